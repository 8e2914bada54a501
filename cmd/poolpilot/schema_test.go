package main

import (
	"os"
	"testing"
)

// TestSchemaPrintsTheCommittedSchema: `poolpilot schema` prints docs/model.schema.json.
func TestSchemaPrintsTheCommittedSchema(t *testing.T) {
	want, err := os.ReadFile("../../docs/model.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "schema")
	if code != 0 || out != string(want) {
		t.Errorf("exit %d, stdout is %d bytes, want docs/model.schema.json's %d; stderr: %s", code, len(out), len(want), errOut)
	}
}
