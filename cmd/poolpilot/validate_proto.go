package main

import (
	"google.golang.org/protobuf/proto"
)

// validateProto checks m against Envoy's proto constraints.
// TODO(envoy.Validate): switch to envoy.Validate, which also walks into Anys.
func validateProto(m proto.Message) error {
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		return v.ValidateAll()
	}
	return nil
}
