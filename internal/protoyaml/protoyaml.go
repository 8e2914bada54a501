// Package protoyaml prints Envoy resources the one way poolpilot shows them: protojson
// with proto field names (as Envoy's docs write them), or YAML made from it. render,
// diff, bootstrap and the translator's golden files all print through it.
package protoyaml

import (
	"bytes"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// MarshalJSON renders m as protojson with proto field names (as Envoy's docs write them).
// Anys are expanded through the global registry, which knows every extension type that
// envoy/ blank-imports. protojson's deliberately unstable whitespace never reaches the
// output: encoding/json compacts a RawMessage it marshals, and JSONToYAML parses it.
func MarshalJSON(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.MarshalOptions{
		UseProtoNames: true,
		Resolver:      protoregistry.GlobalTypes,
	}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}

// JSONToYAML converts JSON to block-style YAML, keeping the key order.
func JSONToYAML(j []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(j, &doc); err != nil {
		return nil, fmt.Errorf("json to yaml: %w", err)
	}
	blockStyle(&doc)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("json to yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blockStyle clears the flow and quoting styles that JSON syntax leaves on the nodes; the
// encoder still quotes a string wherever a plain scalar would read as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
