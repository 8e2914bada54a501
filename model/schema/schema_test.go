package schema

import (
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/poolpilot/poolpilot/model"
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

// TestGoCommentsDescribeUnlistedFields: a field without an entry in descriptions gets its
// Go doc comment, starting with the name a model file uses, so a new documented field
// needs only -update.
func TestGoCommentsDescribeUnlistedFields(t *testing.T) {
	comments, err := goComments("..")
	if err != nil {
		t.Fatal(err)
	}
	got := yamlNamed(reflect.TypeFor[model.Retry](), "PerTryTimeout", comments["Retry.PerTryTimeout"])
	if !strings.HasPrefix(got, "perTryTimeout bounds each attempt (beyond APIM)") {
		t.Errorf("Retry.PerTryTimeout's comment as a description: %q", got)
	}
	if got := comments["Backend"]; got != "Backend is one upstream service (an APIM backend entity)." {
		t.Errorf("Backend's type comment: %q", got)
	}
}

// TestErrorReasonEnumIsTheList: the schema's errorReasons enum is model.ErrorReasons.
func TestErrorReasonEnumIsTheList(t *testing.T) {
	enum := mapType(errorReasonType).Enum
	if len(enum) != len(model.ErrorReasons) {
		t.Fatalf("enum %v, want %v", enum, model.ErrorReasons)
	}
	for i, r := range model.ErrorReasons {
		if enum[i] != string(r) {
			t.Errorf("enum[%d] = %v, want %s", i, enum[i], r)
		}
	}
}

// TestBreakerScopeEnumIsTheList: the schema's scope enum is model.BreakerScopes.
func TestBreakerScopeEnumIsTheList(t *testing.T) {
	enum := mapType(scopeType).Enum
	if len(enum) != len(model.BreakerScopes) {
		t.Fatalf("enum %v, want %v", enum, model.BreakerScopes)
	}
	for i, sc := range model.BreakerScopes {
		if enum[i] != string(sc) {
			t.Errorf("enum[%d] = %v, want %s", i, enum[i], sc)
		}
	}
}
