package main

import (
	"google.golang.org/protobuf/proto"

	"github.com/poolpilot/poolpilot/envoy"
)

// validateProto checks m against Envoy's proto constraints, inside every Any too.
func validateProto(m proto.Message) error { return envoy.Validate(m) }
