package apim

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestARMExpressions(t *testing.T) {
	tmpl := map[string]any{
		"parameters": map[string]any{
			"apimName": map[string]any{"type": "string"},
			"names":    map[string]any{"type": "array", "defaultValue": []any{"a", "b"}},
			"suffix":   map[string]any{"type": "string", "defaultValue": "[variables('sfx')]"},
		},
		"variables": map[string]any{
			"sfx":   "example.com",
			"obj":   map[string]any{"inner": map[string]any{"Key": "v"}},
			"loop1": "[variables('loop2')]",
			"loop2": "[variables('loop1')]",
		},
	}
	ev := newARMEval("t.json", tmpl, map[string]any{"apimName": "apim"})
	for _, tc := range []struct {
		expr string
		want any
	}{
		{"plain", "plain"},
		{"[[literal]", "[literal]"},
		{"[parameters('apimName')]", "apim"},
		{"[PARAMETERS('APIMNAME')]", "apim"}, // function and parameter names ignore case
		{"[format('{0}/{1}', parameters('apimName'), parameters('names')[1])]", "apim/b"},
		{"[format('{{{0}}}', 'x')]", "{x}"},
		{"[concat('https://', parameters('names')[0], '.', parameters('suffix'))]", "https://a.example.com"},
		{"[concat('it''s', ' ', string(3))]", "it's 3"},
		{"[variables('obj').inner.key]", "v"},
		{"[variables('obj')['inner']['Key']]", "v"},
		{"[toLower(concat('A', 'B'))]", "ab"},
		{"[last(split('x/y/z', '/'))]", "z"},
		{"[resourceId('Microsoft.ApiManagement/service/backends', parameters('apimName'), 'b1')]",
			"/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/Microsoft.ApiManagement/service/apim/backends/b1"},
		{"[resourceId('rg2', 'Microsoft.ApiManagement/service/backends', 'apim', 'b2')]",
			"/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/Microsoft.ApiManagement/service/apim/backends/b2"},
		{"[listKeys(resourceId('Microsoft.Web/sites/host', 'f', 'default'), '2022-03-01').functionKeys.default]", unresolved{Expr: "listKeys(...)"}},
		{"[concat('https://', reference('site').defaultHostName)]", unresolved{Expr: "reference(...)"}},
		{"[concat(parameters('names'), createArray())]", nil}, // error, see below
	} {
		got, err := ev.str(tc.expr, "p")
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: no error", tc.expr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.expr, got, tc.want)
		}
	}
	_, err := ev.str("[variables('loop1')]", "p")
	if err == nil || !strings.Contains(err.Error(), `variable "loop1" refers to itself`) {
		t.Errorf("a variable cycle: %v", err)
	}
	deep := "[" + strings.Repeat("concat(", 100) + "'x'" + strings.Repeat(")", 100) + "]"
	if _, err := ev.str(deep, "p"); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Errorf("deep nesting: %v", err)
	}
	n, err := toInt(json.Number("3"), "x")
	if err != nil || n != 3 {
		t.Errorf("toInt: %d %v", n, err)
	}
}

func TestConditions(t *testing.T) {
	for _, tc := range []struct {
		in      string
		ranges  []statusRange
		reasons []string
		err     string
	}{
		{in: "@(context.Response.StatusCode >= 500)", ranges: []statusRange{{500, 599}}},
		{in: "@(context.Response.StatusCode == 429)", ranges: []statusRange{{429, 429}}},
		{in: "@(context.Response.StatusCode >= 500 && context.Response.StatusCode < 600)", ranges: []statusRange{{500, 599}}},
		{in: "@(context.Response.StatusCode == 429 || context.Response.StatusCode >= 502 && context.Response.StatusCode <= 504)",
			ranges: []statusRange{{429, 429}, {502, 504}}},
		{in: "@((context.Response.StatusCode > 499) && (context.Response.StatusCode != 501))", ranges: []statusRange{{500, 500}, {502, 599}}},
		{in: "@(500 <= context.Response.StatusCode)", ranges: []statusRange{{500, 599}}},
		{in: "@(context.Response == null || context.Response.StatusCode >= 500)", ranges: []statusRange{{500, 599}}, reasons: []string{"BackendConnectionFailure"}},
		{in: `@(context.LastError?.Reason == "Timeout" || context.Response.StatusCode == 503)`, ranges: []statusRange{{503, 503}}, reasons: []string{"Timeout"}},
		{in: "true", err: `"true" is not compared with ==, !=, <, <=, > or >=`},
		{in: "@(context.Response.StatusCode >= 500 && context.Variables.GetValueOrDefault<int>(\"n\") < 3)", err: `"context.Variables.GetValueOrDefault" is not one of the values read (context.Response.StatusCode, context.Response, context.LastError.Reason)`},
		{in: "@(context.Response.Headers.ContainsKey(\"x\"))", err: `"context.Response.Headers.ContainsKey" is not compared with ==, !=, <, <=, > or >=`},
		{in: "@(context.Response.StatusCode == 200 && context.Response.StatusCode == 500)", err: "it matches no status code and no error"},
		{in: "@{ return true; }", err: "a multi-statement expression @{...} is not one of the forms read"},
	} {
		c, err := parseCondition(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(c.ranges, tc.ranges) || !reflect.DeepEqual(c.reasons, tc.reasons) {
			t.Errorf("%s = %v %v, want %v %v", tc.in, c.ranges, c.reasons, tc.ranges, tc.reasons)
		}
	}
}

// TestEscapeExpressions checks that unescaped policy expressions parse and keep their
// lines, while the rest of the document is untouched.
func TestEscapeExpressions(t *testing.T) {
	doc := "<policies>\n<!-- a && b < c -->\n<backend>\n" +
		`<retry condition="@(context.Response.StatusCode >= 500 && context.Response.StatusCode < 600 || context.LastError?.Reason == "Timeout")" count="1">` +
		"\n<set-body>@(x < 1 && y)</set-body>\n</retry>\n</backend>\n</policies>"
	root, err := parseXML("p.xml", escapeExpressions([]byte(doc)))
	if err != nil {
		t.Fatal(err)
	}
	rt := root.find("retry")
	if len(rt) != 1 || rt[0].Line != 4 {
		t.Fatalf("retry elements %v", rt)
	}
	want := `@(context.Response.StatusCode >= 500 && context.Response.StatusCode < 600 || context.LastError?.Reason == "Timeout")`
	if got := rt[0].Attr["condition"]; got != want {
		t.Errorf("condition %q, want %q", got, want)
	}
	if sb := root.find("set-body"); len(sb) != 1 || sb[0].Line != 5 {
		t.Errorf("set-body %v", sb)
	}
	// A document already escaped, as an XML editor writes it, keeps its meaning.
	escaped := `<policies><retry condition="@(context.Response.StatusCode &gt;= 500 &amp;&amp; context.Response.StatusCode &lt; 600)" /></policies>`
	root, err = parseXML("e.xml", escapeExpressions([]byte(escaped)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := root.find("retry")[0].Attr["condition"], "@(context.Response.StatusCode >= 500 && context.Response.StatusCode < 600)"; got != want {
		t.Errorf("escaped condition %q, want %q", got, want)
	}
	// Without the escaping the document is not XML: the test would pass vacuously otherwise.
	if _, err := parseXML("p.xml", []byte(doc)); err == nil {
		t.Error("the raw document parses without escaping")
	}
}

// TestUnreadConditionWarns checks that a retry whose condition is not one of the forms
// read is kept, with poolpilot's default condition, and a warning naming the line.
func TestUnreadConditionWarns(t *testing.T) {
	files := []File{
		{"a.json", []byte(`{"name": "a", "properties": {"url": "https://a.example.com", "azureRegion": "swedencentral"}}`)},
		{"api.xml", []byte("<policies>\n<inbound><set-backend-service backend-id=\"a\" /></inbound>\n<backend>\n" +
			"<retry condition=\"@(context.Response.Headers.ContainsKey(&quot;x&quot;))\" count=\"2\" interval=\"1\">\n<forward-request />\n</retry>\n</backend>\n</policies>")},
	}
	res, err := Import(files, Options{PathPrefixes: map[string]string{"api": "/api/"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`api.xml:4: API "api": retry condition "@(context.Response.Headers.ContainsKey(\"x\"))" is not one of the forms read (StatusCode comparisons, context.Response == null, context.LastError.Reason == "...", joined with || and &&): "context.Response.Headers.ContainsKey" is not compared with ==, !=, <, <=, > or >=; the retry is kept with poolpilot's default (502–504 and BackendConnectionFailure)`}
	if !reflect.DeepEqual(res.Warnings, want) {
		t.Errorf("warnings:\n  %s\nwant:\n  %s", strings.Join(res.Warnings, "\n  "), strings.Join(want, "\n  "))
	}
	if !strings.Contains(string(res.YAML), "    retry:\n      count: 2\n      interval: PT1S\nlisteners:") {
		t.Errorf("the retry is not kept without its condition:\n%s", res.YAML)
	}
}

// TestWeightZeroDropped: APIM accepts weight 0, Envoy does not; the member is left out
// with a warning instead of failing the whole import.
func TestWeightZeroDropped(t *testing.T) {
	list := `{"value": [
  {"name": "a", "properties": {"url": "https://a.example.com", "azureRegion": "r1"}},
  {"name": "b", "properties": {"url": "https://b.example.com", "azureRegion": "r1"}},
  {"name": "p", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/a", "priority": 1, "weight": 0}, {"id": "/backends/b", "priority": 1, "weight": 2}]}}}]}`
	res, err := Import([]File{{"list.json", []byte(list)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`list.json: value[2].properties.pool.services[0].weight: pool "p": a has weight 0, which Envoy does not accept: the member is left out`}
	if !reflect.DeepEqual(res.Warnings, want) {
		t.Errorf("warnings %q, want %q", res.Warnings, want)
	}
	if !strings.Contains(string(res.YAML), "    services:\n      - backend: b\n        priority: 1\n        weight: 2\n") {
		t.Errorf("pool:\n%s", res.YAML)
	}
}

// TestForwardRequestTimeout: outside a retry the forward-request timeout bounds the
// request (the API's timeout); an existing resource of a languageVersion 2.0 template
// is a reference, not a declaration, and is skipped without a warning.
func TestForwardRequestTimeout(t *testing.T) {
	tmpl := `{"languageVersion": "2.0", "resources": {
  "apim": {"existing": true, "type": "Microsoft.ApiManagement/service", "apiVersion": "2024-05-01", "name": "apim"},
  "a": {"type": "Microsoft.ApiManagement/service/backends", "apiVersion": "2024-05-01", "name": "apim/a",
        "properties": {"url": "https://a.example.com", "azureRegion": "r1"}}}}`
	files := []File{
		{"main.json", []byte(tmpl)},
		{"api.xml", []byte("<policies>\n<inbound><set-backend-service backend-id=\"a\" /></inbound>\n<backend><forward-request timeout=\"45\" /></backend>\n</policies>")},
	}
	res, err := Import(files, Options{PathPrefixes: map[string]string{"api": "/api/"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q, want none", res.Warnings)
	}
	if !strings.Contains(string(res.YAML), "    backend: a\n    timeout: PT45S\n") {
		t.Errorf("no API timeout:\n%s", res.YAML)
	}
}

// TestByteOrderMark: files saved by Windows tools start with a BOM, which neither
// encoding/json nor encoding/xml accepts; error columns stay those of the file.
func TestByteOrderMark(t *testing.T) {
	files := []File{
		{"a.json", []byte("\ufeff" + `{"name": "a", "properties": {"url": "https://a.example.com", "azureRegion": "r1"}}`)},
		{"api.xml", []byte("\ufeff<policies><inbound><set-backend-service backend-id=\"a\" /></inbound></policies>")},
	}
	if _, err := Import(files, Options{PathPrefixes: map[string]string{"api": "/api/"}}); err != nil {
		t.Fatal(err)
	}
	_, err := Import([]File{{"b.json", []byte("\ufeff{,}")}}, Options{})
	if want := "b.json:1:5: malformed JSON: invalid character ',' looking for beginning of object key string"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
	params, err := ReadParameters(File{"p.json", []byte("\ufeff" + `{"parameters": {"apim": {"value": "x"}}}`)})
	if err != nil || params["apim"] != "x" {
		t.Errorf("a parameters file with a BOM: %v, %v", params, err)
	}
}
