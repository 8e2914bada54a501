// Package examples holds runnable poolpilot models. The failover model is embedded so
// that `poolpilot serve` without --model has something to serve on a fresh machine.
package examples

import _ "embed"

// FailoverModel is examples/failover/model.yaml: the two-region failover scenario.
//
//go:embed failover/model.yaml
var FailoverModel []byte

// FailoverModelPath is the name under which FailoverModel is reported in errors and logs.
const FailoverModelPath = "examples/failover/model.yaml"
