package apim

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzImport feeds arbitrary input as JSON and as policy XML: Import returns a model or
// an error, and never panics.
func FuzzImport(f *testing.F) {
	paths, _ := filepath.Glob("testdata/*/*")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	backend := []byte(`{"name": "a", "properties": {"url": "https://a.example.com"}}`)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Import([]File{{"in.json", data}}, Options{})
		_, _ = Import([]File{{"a.json", backend}, {"a.xml", append([]byte("<"), data...)}}, Options{})
		_, _ = ReadParameters(File{"p.json", data})
	})
}

func FuzzCondition(f *testing.F) {
	for _, s := range []string{
		"@(context.Response.StatusCode >= 500)", "@()", "@(500 <)", "@((((", "@(a == )",
		"@(context.Response == null || context.LastError?.Reason == \"Timeout\")", "@(<= 5)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseCondition(s)
	})
}

func FuzzARMExpression(f *testing.F) {
	for _, s := range []string{
		"[concat('a', parameters('p'))]", "[format('{0}', 1)]", "[variables('v').a[0]]",
		"[resourceId('A.B/c/d', 'x', 'y')]", "[[x]", "[format('{', 1)]", "[split('a/b', '/')[5]]",
	} {
		f.Add(s)
	}
	tmpl := map[string]any{
		"parameters": map[string]any{"p": map[string]any{"defaultValue": "x"}},
		"variables":  map[string]any{"v": map[string]any{"a": []any{"b"}}, "self": "[variables('self')]"},
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = newARMEval("t.json", tmpl, nil).str(s, "p")
	})
}
