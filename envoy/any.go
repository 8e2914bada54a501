package envoy

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// mustAny packs m. Marshalling a well-formed generated message cannot fail; a failure is a
// programming error, so it panics rather than thread an impossible error through every builder.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("envoy: packing %T: %v", m, err))
	}
	return a
}

func u32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }
