package apim

import (
	"strings"
	"testing"
)

const restPool = `{"value": [
  {"name": "a", "type": "Microsoft.ApiManagement/service/backends", "properties": {"url": "https://a.example.com"}},
  {"name": "pool", "type": "Microsoft.ApiManagement/service/backends", "properties": {"type": "Pool",
    "pool": {"services": [{"id": "/backends/a", "priority": 1}, {"id": "/subscriptions/s/resourceGroups/r/providers/Microsoft.ApiManagement/service/apim/backends/missing", "priority": 2}]}}}
]}`

const armHead = `{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
 "parameters": {"apim": {"type": "string"}, "site": {"type": "string", "defaultValue": "func"}},
 "resources": [`

// TestBadInput checks that each kind of bad input is an error naming the file and the
// place (JSON path, line:column, or XML line), with the exact message.
func TestBadInput(t *testing.T) {
	backendA := File{"a.json", []byte(`{"name": "a", "type": "Microsoft.ApiManagement/service/backends", "properties": {"url": "https://a.example.com"}}`)}
	for _, tc := range []struct {
		name  string
		files []File
		opts  Options
		want  string
	}{
		{"malformed JSON", []File{{"bad.json", []byte("{\"value\": [\n  {\"name\": \"a\",, }\n]}")}},
			Options{}, `bad.json:2:16: malformed JSON: invalid character ',' looking for beginning of object key string`},
		{"truncated JSON", []File{{"cut.json", []byte(`{"value": [`)}},
			Options{}, `cut.json: malformed JSON: unexpected end of file`},
		{"two JSON values", []File{{"two.json", []byte("{\"properties\": {}}\n{}")}},
			Options{}, `two.json:2:1: malformed JSON: data after the top-level value`},
		{"JSON array", []File{{"arr.json", []byte(`[1]`)}},
			Options{}, `arr.json: want a JSON object (a backend, {"value": [...]} or an ARM template), got a array`},
		{"malformed XML", []File{backendA, {"api.xml", []byte("<policies>\n  <inbound>\n    <set-backend-service backend-id=\"a\" />\n</policies>\n")}},
			Options{}, `api.xml:4: malformed XML: element <inbound> closed by </policies>`},
		{"XML root", []File{backendA, {"api.xml", []byte("<policy>\n</policy>")}},
			Options{}, `api.xml:1: the root element is <policy>: want <policies>`},
		{"unknown REST type", []File{{"site.json", []byte(`{"name": "s", "type": "Microsoft.Web/sites", "properties": {}}`)}},
			Options{}, `site.json: $.type: unknown resource type "Microsoft.Web/sites": want Microsoft.ApiManagement/service/backends`},
		{"unknown REST type in a list", []File{{"list.json", []byte(`{"value": [{"name": "s", "type": "Microsoft.ApiManagement/service/apis", "properties": {}}]}`)}},
			Options{}, `list.json: value[0].type: unknown resource type "Microsoft.ApiManagement/service/apis": want Microsoft.ApiManagement/service/backends`},
		{"unknown ARM type", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.Web/sites", "apiVersion": "2023-12-01", "name": "[parameters('site')]"}]}`)}},
			Options{Parameters: map[string]any{"apim": "x"}}, `main.json: resources[0].type: unknown resource type "Microsoft.Web/sites": import reads Microsoft.ApiManagement/service/backends and other Microsoft.ApiManagement types (skipped); --skip-unknown-types skips other types with a warning`},
		{"unknown backend type", []File{{"b.json", []byte(`{"name": "b", "properties": {"type": "ServiceFabric", "url": "https://b"}}`)}},
			Options{}, `b.json: $.properties.type: "ServiceFabric" is not a backend type: want Single or Pool`},
		{"pool with a missing backend", []File{{"list.json", []byte(restPool)}},
			Options{}, `list.json: value[1].properties.pool.services[1].id: pool "pool": no backend named "missing" (from id "/subscriptions/s/resourceGroups/r/providers/Microsoft.ApiManagement/service/apim/backends/missing") among the imported backends`},
		{"pool in a pool", []File{{"list.json", []byte(`{"value": [
  {"name": "a", "properties": {"url": "https://a.example.com"}},
  {"name": "p1", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/a"}]}}},
  {"name": "p2", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/p1"}]}}}]}`)}},
			Options{}, `list.json: value[2].properties.pool.services[0].id: pool "p2": "p1" is a pool; APIM pools hold single backends only`},
		{"pool of weight 0 only", []File{{"list.json", []byte(`{"value": [
  {"name": "a", "properties": {"url": "https://a.example.com"}},
  {"name": "p", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/a", "priority": 1, "weight": 0}]}}}]}`)}},
			Options{}, `list.json: value[1].properties.pool.services: pool "p": every member has weight 0: give at least one a weight of 1–100`},
		{"priority out of range", []File{{"list.json", []byte(`{"value": [
  {"name": "a", "properties": {"url": "https://a.example.com"}},
  {"name": "p", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/a", "priority": 101}]}}}]}`)}},
			Options{}, "the imported model is not valid (lines are those of the model import writes):\n  imported model:10: pools[0].services[0].priority: 101 is out of range (0–100; lower is preferred)\n" +
				"   1  # Imported from API Management by poolpilot import apim: list.json\n" +
				"   2  # Check the warnings it printed; secrets are ${ENV_VAR} references to set.\n" +
				"   3  backends:\n" +
				"   4    - name: a\n" +
				"   5      url: https://a.example.com\n" +
				"   6  pools:\n" +
				"   7    - name: p\n" +
				"   8      services:\n" +
				"   9        - backend: a\n" +
				"  10          priority: 101\n"},
		{"pool without services", []File{{"p.json", []byte(`{"name": "p", "properties": {"type": "Pool", "pool": {"services": []}}}`)}},
			Options{}, `p.json: $.properties.pool.services: a Pool backend needs at least one service {id, priority, weight}`},
		{"duplicate backend", []File{backendA, {"a2.json", backendA.Data}},
			Options{}, `a2.json: $: backend "a" is already defined at a.json: $`},
		{"policy names a missing backend", []File{backendA, {"api.xml", []byte(`<policies>
  <inbound>
    <base />
    <set-backend-service backend-id="nope" />
  </inbound>
</policies>`)}},
			Options{}, `api.xml:4: <set-backend-service backend-id="nope">: no backend or pool named "nope" among the imported backends`},
		{"policy with base-url", []File{backendA, {"api.xml", []byte("<policies><inbound>\n<set-backend-service base-url=\"https://x\" />\n</inbound></policies>")}},
			Options{}, `api.xml:2: <set-backend-service> has no backend-id: base-url is not imported; create a backend for it and name it with backend-id`},
		{"policy without set-backend-service", []File{backendA, {"api.xml", []byte("<policies><inbound><base /></inbound></policies>")}},
			Options{}, `api.xml: API "api": no <set-backend-service backend-id="..."/>: the policy must name the backend or pool`},
		{"retry count expression", []File{backendA, {"api.xml", []byte("<policies>\n<inbound><set-backend-service backend-id=\"a\" /></inbound>\n<backend>\n<retry condition=\"true\" count=\"{{retries}}\" interval=\"1\"><forward-request /></retry>\n</backend></policies>")}},
			Options{}, `api.xml:4: <retry count> is "{{retries}}", an expression or named value: want a literal`},
		{"forward-request timeout expression", []File{backendA, {"api.xml", []byte("<policies>\n<inbound><set-backend-service backend-id=\"a\" /></inbound>\n<backend>\n<forward-request timeout=\"@(30)\" />\n</backend></policies>")}},
			Options{}, `api.xml:4: <forward-request timeout> is "@(30)": want a whole number of seconds (an expression or named value is not imported)`},
		{"unresolved URL", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.ApiManagement/service/backends", "name": "[format('{0}/{1}', parameters('apim'), 'b')]",
  "properties": {"url": "[format('https://{0}', reference(resourceId('Microsoft.Web/sites', parameters('site')), '2023-12-01').defaultHostName)]"}}]}`)}},
			Options{Parameters: map[string]any{"apim": "x"}}, `main.json: resources[0].properties.url: backend "b": the URL is reference(...), known only at deployment: give it with --url b=URL`},
		{"parameter without a value", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.ApiManagement/service/backends", "name": "[format('{0}/{1}', parameters('apim'), 'b')]", "properties": {"url": "https://b"}}]}`)}},
			Options{}, `main.json: resources[0].name: expression "[format('{0}/{1}', parameters('apim'), 'b')]": parameter "apim" has no defaultValue: give it in a parameters file (--parameters FILE)`},
		{"parameter cycle", []File{{"main.json", []byte(`{"parameters": {"p": {"defaultValue": "[concat('x', parameters('p'))]"}},
 "resources": [{"type": "Microsoft.ApiManagement/service/backends", "name": "[parameters('p')]", "properties": {"url": "https://b"}}]}`)}},
			Options{}, `main.json: parameters.p.defaultValue: expression "[concat('x', parameters('p'))]": parameter "p" refers to itself`},
		{"parameter not declared", []File{{"main.json", []byte(armHead + `]}`)}},
			Options{Parameters: map[string]any{"apimName": "x"}}, `main.json: parameters: the parameters file sets "apimName", which the template does not declare`},
		{"unsupported function", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.ApiManagement/service/backends", "name": "[format('{0}/{1}', parameters('apim'), base64('b'))]", "properties": {"url": "https://b"}}]}`)}},
			Options{Parameters: map[string]any{"apim": "x"}}, `main.json: resources[0].name: expression "[format('{0}/{1}', parameters('apim'), base64('b'))]": function base64() is not supported offline (supported: parameters, variables, format, concat, resourceId, toLower, toUpper, string, trim, split, last; list*/reference/resourceGroup/subscription become placeholders)`},
		{"bad expression syntax", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.ApiManagement/service/backends", "name": "[concat('a', 'b']", "properties": {"url": "https://b"}}]}`)}},
			Options{Parameters: map[string]any{"apim": "x"}}, `main.json: resources[0].name: expression "[concat('a', 'b']": missing ) after the arguments of concat`},
		{"copy loop", []File{{"main.json", []byte(armHead + `{"type": "Microsoft.ApiManagement/service/backends", "copy": {"name": "c", "count": 2}, "name": "x", "properties": {}}]}`)}},
			Options{Parameters: map[string]any{"apim": "x"}}, `main.json: resources[0].copy: copy loops are not evaluated offline: expand them (e.g. az deployment group what-if) or import the REST API's list`},
		{"parameters file as input", []File{{"main.parameters.json", []byte(`{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", "parameters": {}}`)}},
			Options{}, `main.parameters.json: is an ARM parameters file: give it with --parameters FILE`},
		{"bad duration", []File{{"b.json", []byte(`{"name": "b", "properties": {"url": "https://b", "circuitBreaker": {"rules": [{"tripDuration": "30 seconds", "failureCondition": {"count": 1, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}}]}}}`)}},
			Options{}, `b.json: $.properties.circuitBreaker.rules[0].tripDuration: ` + durationErr("30 seconds")},
		{"flag names nothing", []File{backendA},
			Options{Regions: map[string]string{"typo": "swedencentral"}}, `--region typo=...: nothing imported is named "typo"`},
		{"empty file", []File{{"e.json", []byte("  \n")}},
			Options{}, `e.json: empty file: want backend JSON, an ARM template or policy XML`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(tc.files, tc.opts)
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n  %s\nwant:\n  %s", err, tc.want)
			}
		})
	}
}

func durationErr(s string) string {
	_, err := toDuration(s, "x")
	return err.Error()[len("x: "):]
}

// TestHugeValuesAreClipped: a value of an input file quoted in an error or a warning is
// shortened, so a generated file gone wrong cannot make a message of megabytes.
func TestHugeValuesAreClipped(t *testing.T) {
	huge := strings.Repeat("x", 100_000)
	backendA := File{"a.json", []byte(`{"name": "a", "properties": {"url": "https://a.example.com"}}`)}
	policy := func(attrs string) File {
		return File{"api.xml", []byte(`<policies><inbound><set-backend-service backend-id="a" /><rewrite-uri template="/{` + huge + `}" /></inbound>
<backend><retry ` + attrs + ` condition="@(context.Response.StatusCode >= 500)"><forward-request /></retry></backend></policies>`)}
	}
	for _, tc := range []struct {
		name  string
		files []File
	}{
		{"resource type", []File{{"t.json", []byte(`{"name": "a", "type": "` + huge + `", "properties": {}}`)}}},
		{"backend type", []File{{"b.json", []byte(`{"name": "a", "properties": {"type": "` + huge + `"}}`)}}},
		{"pool member id", []File{backendA, {"p.json", []byte(`{"name": "p", "properties": {"type": "Pool", "pool": {"services": [{"id": "/backends/` + huge + `"}]}}}`)}}},
		{"ARM symbolic name", []File{{"m.json", []byte(`{"languageVersion": "2.0", "resources": {"` + huge + `": {"type": "Microsoft.Web/sites", "name": "s"}}}`)}}},
		{"ARM variable", []File{{"m.json", []byte(`{"resources": [{"type": "Microsoft.ApiManagement/service/backends", "name": "[variables('` + huge + `')]", "properties": {}}]}`)}}},
		{"retry count", []File{backendA, policy(`count="` + huge + `"`)}},
		{"ARM function name", []File{{"m.json", []byte(`{"resources": [{"type": "Microsoft.ApiManagement/service/backends", "name": "[` + huge + `()]", "properties": {}}]}`)}}},
		{"ARM list function", []File{{"m.json", []byte(`{"resources": [{"type": "Microsoft.ApiManagement/service/backends", "name": "b", "properties": {"url": "[list` + huge + `()]"}}]}`)}}},
		{"backend name", []File{{"n.json", []byte(`{"name": "` + huge + `", "properties": {}}`)}}},
		{"ARM policy's API name", []File{{"m.json", []byte(`{"resources": [{"type": "Microsoft.ApiManagement/service/apis/policies", "name": "apim/` + huge + `/policy", "properties": {"value": "<policies><inbound /></policies>"}}]}`)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Import(tc.files, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if len(err.Error()) > 2000 {
				t.Errorf("error of %d bytes: %.300s...", len(err.Error()), err)
			}
		})
	}
	t.Run("warnings", func(t *testing.T) {
		headers := File{"h.json", []byte(`{"name": "h", "properties": {"url": "https://h.example.com", "credentials": {"header": {"` + huge + `": ["literal"], "x-key": ["{{` + huge + `}}"]}}}}`)}
		res, err := Import([]File{backendA, headers, policy(`count="3"`)}, Options{Regions: map[string]string{"a": "r", "h": "r"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Warnings) != 4 {
			t.Fatalf("want warnings about the literal header, the named value, the assumed path prefix and the rewrite-uri template, got %d:\n%.2000s", len(res.Warnings), strings.Join(res.Warnings, "\n"))
		}
		for _, w := range res.Warnings {
			if len(w) > 2000 {
				t.Errorf("warning of %d bytes: %.300s...", len(w), w)
			}
		}
	})
}
