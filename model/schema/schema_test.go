package schema

import (
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/model.schema.json from the model types")

const committed = "../../docs/model.schema.json"

// generated is the schema made from the current model types.
func generated(t *testing.T) []byte {
	t.Helper()
	b, err := Generate("..")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCommittedSchemaIsGenerated fails when docs/model.schema.json drifts from the model
// types; go test ./model/schema -update rewrites it.
func TestCommittedSchemaIsGenerated(t *testing.T) {
	got := generated(t)
	if *update {
		if err := os.WriteFile(committed, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v (run go test ./model/schema -update)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the schema generated from the model types; run go test ./model/schema -update and review the diff", committed)
	}
}
