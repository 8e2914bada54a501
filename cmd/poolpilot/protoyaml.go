package main

import "github.com/poolpilot/poolpilot/internal/protoyaml"

// The CLI prints resources as the golden files do (internal/protoyaml).
var (
	marshalJSON = protoyaml.MarshalJSON
	jsonToYAML  = protoyaml.JSONToYAML
)
