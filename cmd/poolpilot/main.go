// Command poolpilot is an Envoy xDS control plane: it serves per-region snapshots built from
// APIM-style model files (serve), checks models (validate), shows what a node group receives
// (render) and what a model edit changes (diff), prints the model's JSON Schema (schema) and
// writes Envoy bootstraps that point at it (bootstrap).
//
// Every flag can also be set as the environment variable POOLPILOT_<FLAG> (dashes become
// underscores) or as a key in the YAML file given with --config. Precedence:
// flag > environment > config file > default.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
