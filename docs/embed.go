// Package docs holds poolpilot's documentation. The model's JSON Schema is embedded so
// that `poolpilot schema` prints it; it is generated from the model types by package
// model/schema (go test ./model/schema -update).
package docs

import _ "embed"

// ModelSchema is docs/model.schema.json.
//
//go:embed model.schema.json
var ModelSchema []byte
