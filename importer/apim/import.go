// Package apim turns Azure API Management configuration into a poolpilot model:
// Microsoft.ApiManagement/service/backends resources (the REST API's JSON, one backend
// or a list, and ARM templates) and API policy XML (set-backend-service, rewrite-uri,
// retry, forward-request).
//
// Import never needs Azure: what only a deployment knows becomes a placeholder (a
// secret becomes a ${ENV_VAR} reference) or an error naming the flag that supplies it.
package apim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/poolpilot/poolpilot/model"
)

// BackendType is the resource type import reads.
const BackendType = "Microsoft.ApiManagement/service/backends"

const (
	policyType = "Microsoft.ApiManagement/service/apis/policies"
	apiType    = "Microsoft.ApiManagement/service/apis"
)

// File is one input: its name as shown in errors, and its content.
type File struct {
	Name string
	Data []byte
}

// Options are what the inputs cannot say.
type Options struct {
	// Parameters are ARM template parameter values (from a parameters file), by name.
	Parameters map[string]any
	// Regions maps a backend name to its region. APIM backends have no region (except
	// azureRegion in API versions from 2025-03-01-preview); a flag overrides it.
	Regions map[string]string
	// RegionSuffixes maps the last "-" segment of a backend name to a region, e.g.
	// "sdc" → "swedencentral" for func-primary-sdc. Used only when given.
	RegionSuffixes map[string]string
	// URLs maps a backend name to its URL, for URLs known only at deployment time.
	URLs map[string]string
	// PathPrefixes maps an API name (a policy file's base name) to its path prefix.
	// The default is "/<api>/", with a warning.
	PathPrefixes map[string]string
	// PreferLocalRegion sets preferLocalRegion on every pool (APIM has no such setting).
	PreferLocalRegion bool
	// Listener and Port name the listener that serves every imported API.
	Listener string
	Port     int
	// SkipUnknownTypes turns an ARM resource of a type outside Microsoft.ApiManagement
	// into a warning instead of an error.
	SkipUnknownTypes bool
}

// Result is an imported model and every warning about what was not carried over.
type Result struct {
	YAML     []byte
	Warnings []string
}

// backend is one imported backend resource, single or pool.
type backend struct {
	name  string
	where string // file and JSON path of the resource, for messages
	pool  bool
	out   outBackend
	svcs  []service
}

type service struct {
	id       string
	where    string
	priority *int
	weight   *int
}

// policyDoc is an API policy waiting to be read once every backend is known.
type policyDoc struct {
	where, api string
	data       []byte
}

type importer struct {
	opts     Options
	policies []policyDoc
	apiPaths map[string]string // API name → path, from service/apis resources
	warnings []string
	backends []*backend
	byName   map[string]*backend
	apis     []outAPI
	apiSeen  map[string]string
}

// maxWarnArg bounds each string a warning is made of: values of the input (header
// names, named values) are quoted whole, and a normal one is far shorter.
const maxWarnArg = 400

func (im *importer) warn(format string, args ...any) {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxWarnArg {
			args[i] = s[:maxWarnArg] + "..."
		}
	}
	im.warnings = append(im.warnings, fmt.Sprintf(format, args...))
}

var bom = []byte("\ufeff")

// blankBOM turns a byte order mark (Windows tools write one) into spaces, so that
// offsets and columns stay those of the file.
func blankBOM(data []byte) []byte {
	if bytes.HasPrefix(data, bom) {
		return append([]byte("   "), data[len(bom):]...)
	}
	return data
}

// Import reads files (JSON backends or ARM templates, and policy XML) and returns the
// model they describe. The first error stops it; the error names the file and the
// place (a JSON path or an XML line).
func Import(files []File, opts Options) (*Result, error) {
	if opts.Listener == "" {
		opts.Listener = "public"
	}
	if opts.Port == 0 {
		opts.Port = 10000
	}
	im := &importer{opts: opts, byName: map[string]*backend{}, apiSeen: map[string]string{}, apiPaths: map[string]string{}}
	for _, f := range files {
		f.Data = blankBOM(f.Data)
		trimmed := bytes.TrimLeft(f.Data, " \t\r\n")
		switch {
		case len(trimmed) == 0:
			return nil, fmt.Errorf("%s: empty file: want backend JSON, an ARM template or policy XML", f.Name)
		case trimmed[0] == '<':
			api := strings.TrimSuffix(filepath.Base(f.Name), filepath.Ext(f.Name))
			im.policies = append(im.policies, policyDoc{f.Name, api, f.Data})
		default:
			if err := im.readJSON(f); err != nil {
				return nil, err
			}
		}
	}
	for _, b := range im.backends {
		if err := im.resolvePool(b); err != nil {
			return nil, err
		}
	}
	for _, p := range im.policies {
		if err := im.readPolicy(p.where, p.api, p.data); err != nil {
			return nil, err
		}
	}
	if err := im.checkFlags(); err != nil {
		return nil, err
	}
	return im.result(files)
}

// jsonError locates a decoding error by line and column.
func jsonError(f File, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		// Offset counts the byte that broke the syntax: point at it, not after it.
		off = max(se.Offset-1, 0)
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return fmt.Errorf("%s: malformed JSON: %v", f.Name, err)
	}
	line, col := lineCol(f.Data, off)
	return fmt.Errorf("%s:%d:%d: malformed JSON: %v", f.Name, line, col, err)
}

// lineCol is the 1-based line and column of byte offset off.
func lineCol(data []byte, off int64) (int, int) {
	line, col := 1, 1
	for _, c := range data[:min(int(off), len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func decodeJSON(f File) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(f.Data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%s: malformed JSON: unexpected end of file", f.Name)
		}
		return nil, jsonError(f, err)
	}
	if dec.More() {
		line, col := lineCol(f.Data, dec.InputOffset())
		return nil, fmt.Errorf("%s:%d:%d: malformed JSON: data after the top-level value", f.Name, line, col)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON object (a backend, {\"value\": [...]} or an ARM template), got a %s", f.Name, typeName(v))
	}
	return obj, nil
}

func (im *importer) readJSON(f File) error {
	obj, err := decodeJSON(f)
	if err != nil {
		return err
	}
	schema, _ := obj["$schema"].(string)
	switch {
	case strings.Contains(strings.ToLower(schema), "deploymentparameters"):
		return fmt.Errorf("%s: is an ARM parameters file: give it with --parameters FILE", f.Name)
	case obj["resources"] != nil:
		return im.readTemplate(f, obj)
	case obj["value"] != nil:
		list, ok := obj["value"].([]any)
		if !ok {
			return fmt.Errorf("%s: value: want an array of backends, got a %s", f.Name, typeName(obj["value"]))
		}
		if next, _ := obj["nextLink"].(string); next != "" {
			im.warn("%s: the list has a nextLink: only this page was read; fetch every page (az rest follows none) and import them together", f.Name)
		}
		for i, el := range list {
			r, ok := el.(map[string]any)
			path := fmt.Sprintf("value[%d]", i)
			if !ok {
				return fmt.Errorf("%s: %s: want a backend object, got a %s", f.Name, path, typeName(el))
			}
			if err := im.restBackend(f.Name, path, r); err != nil {
				return err
			}
		}
		return nil
	case obj["properties"] != nil:
		return im.restBackend(f.Name, "$", obj)
	}
	return fmt.Errorf("%s: not a backend: want a backend as the REST API returns it (with properties), a list {\"value\": [...]}, or an ARM template (with resources)", f.Name)
}

func (im *importer) restBackend(file, path string, r map[string]any) error {
	typ, _ := r["type"].(string)
	if typ != "" && !strings.EqualFold(typ, BackendType) {
		return fmt.Errorf("%s: %s.type: unknown resource type %s: want %s", file, path, clip(typ), BackendType)
	}
	name, _ := r["name"].(string)
	if name == "" {
		return fmt.Errorf("%s: %s.name: is required (the backend id)", file, path)
	}
	props, ok := r["properties"].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %s.properties: want an object, got a %s", file, path, typeName(r["properties"]))
	}
	return im.addBackend(file, path, lastSegment(name), props)
}

// readTemplate reads the backends of an ARM template, evaluating its expressions.
func (im *importer) readTemplate(f File, tmpl map[string]any) error {
	ev := newARMEval(f.Name, tmpl, im.opts.Parameters)
	for name := range im.opts.Parameters {
		if _, ok := ev.params[strings.ToLower(name)]; !ok {
			return fmt.Errorf("%s: parameters: the parameters file sets %s, which the template does not declare", f.Name, clip(name))
		}
	}
	if _, ok := tmpl["resources"].(map[string]any); ok {
		// languageVersion 2.0: resources keyed by symbolic name.
		res := tmpl["resources"].(map[string]any)
		for _, k := range sortedKeys(res) {
			if err := im.armResource(f, ev, fmt.Sprintf("resources[%s]", clip(k)), res[k], ""); err != nil {
				return err
			}
		}
		return nil
	}
	list, ok := tmpl["resources"].([]any)
	if !ok {
		return fmt.Errorf("%s: resources: want an array of resources, got a %s", f.Name, typeName(tmpl["resources"]))
	}
	for i, r := range list {
		if err := im.armResource(f, ev, fmt.Sprintf("resources[%d]", i), r, ""); err != nil {
			return err
		}
	}
	return nil
}

func (im *importer) armResource(f File, ev *armEval, path string, raw any, parentType string) error {
	r, ok := raw.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %s: want a resource object, got a %s", f.Name, path, typeName(raw))
	}
	if r["copy"] != nil {
		return fmt.Errorf("%s: %s.copy: copy loops are not evaluated offline: expand them (e.g. az deployment group what-if) or import the REST API's list", f.Name, path)
	}
	if ex, _ := r["existing"].(bool); ex {
		return nil // a reference to a resource declared elsewhere (languageVersion 2.0)
	}
	typ, _ := r["type"].(string)
	if parentType != "" && !strings.Contains(typ, ".") {
		typ = parentType + "/" + typ // a child resource nested in its parent
	}
	if cond, ok := r["condition"]; ok {
		v, err := ev.value(cond, path+".condition")
		if err != nil {
			return err
		}
		if b, ok := v.(bool); ok && !b {
			return nil
		}
		if _, ok := v.(unresolved); ok {
			im.warn("%s: %s.condition is known only at deployment: the resource was imported as if it holds", f.Name, path)
		}
	}
	nameV, err := ev.value(r["name"], path+".name")
	if err != nil {
		return err
	}
	name, ok := nameV.(string)
	if !ok {
		return fmt.Errorf("%s: %s.name: want a string, got a %s", f.Name, path, typeName(nameV))
	}
	switch {
	case strings.EqualFold(typ, BackendType):
		props, err := ev.value(r["properties"], path+".properties")
		if err != nil {
			return err
		}
		pm, ok := props.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %s.properties: want an object, got a %s", f.Name, path, typeName(props))
		}
		if err := im.addBackend(f.Name, path, lastSegment(name), pm); err != nil {
			return err
		}
	case strings.EqualFold(typ, policyType):
		if err := im.armPolicy(f, ev, path, name, r); err != nil {
			return err
		}
	case strings.EqualFold(typ, apiType):
		if err := im.armAPI(f, ev, path, name, r); err != nil {
			return err
		}
	case strings.HasPrefix(strings.ToLower(typ), "microsoft.apimanagement/"):
		im.warn("%s: %s: %s %s is not imported (import reads %s and API policies)", f.Name, path, typ, clip(name), BackendType)
	case im.opts.SkipUnknownTypes:
		im.warn("%s: %s: skipped resource type %s", f.Name, path, clip(typ))
		return nil
	default:
		return fmt.Errorf("%s: %s.type: unknown resource type %s: import reads %s and other Microsoft.ApiManagement types (skipped); --skip-unknown-types skips other types with a warning", f.Name, path, clip(typ), BackendType)
	}
	if kids, ok := r["resources"].([]any); ok {
		for i, k := range kids {
			if err := im.armResource(f, ev, fmt.Sprintf("%s.resources[%d]", path, i), k, typ); err != nil {
				return err
			}
		}
	}
	return nil
}

// armPolicy reads an API policy resource (service/apis/policies) whose value is XML.
func (im *importer) armPolicy(f File, ev *armEval, path, name string, r map[string]any) error {
	props, err := ev.value(r["properties"], path+".properties")
	if err != nil {
		return err
	}
	pm, _ := props.(map[string]any)
	xmlText, ok := pm["value"].(string)
	format, _ := pm["format"].(string)
	if !ok || (format != "" && format != "xml" && format != "rawxml") {
		im.warn("%s: %s: policy %s is not inline XML (format %s): not imported; give the policy XML as a file", f.Name, path, clip(name), clip(format))
		return nil
	}
	segs := strings.Split(name, "/")
	api := name
	if len(segs) >= 2 {
		api = segs[len(segs)-2]
	}
	im.policies = append(im.policies, policyDoc{f.Name + ": " + path + ".properties.value", api, []byte(xmlText)})
	return nil
}

// armAPI records an API's path (service/apis properties.path) as its path prefix.
func (im *importer) armAPI(f File, ev *armEval, path, name string, r map[string]any) error {
	props, err := ev.value(r["properties"], path+".properties")
	if err != nil {
		return err
	}
	pm, _ := props.(map[string]any)
	p, ok := pm["path"].(string)
	if !ok {
		im.warn("%s: %s.properties.path: API %s has no literal path: not used", f.Name, path, clip(lastSegment(name)))
		return nil
	}
	im.apiPaths[lastSegment(name)] = "/" + strings.Trim(p, "/") + "/"
	return nil
}

func lastSegment(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// addBackend converts one backend's properties.
func (im *importer) addBackend(file, path, name string, p map[string]any) error {
	where := fmt.Sprintf("%s: %s", file, path)
	// The name is quoted in most messages below: bound it first (the model's limit).
	if len(name) > model.MaxNameLen {
		return fmt.Errorf("%s.name: backend name %s is %d characters long; a model allows at most %d", where, clip(name), len(name), model.MaxNameLen)
	}
	if prev, dup := im.byName[name]; dup {
		return fmt.Errorf("%s: backend %q is already defined at %s", where, name, prev.where)
	}
	b := &backend{name: name, where: where}
	b.out.Name = name
	kind := "single"
	if t, ok := p["type"].(string); ok {
		kind = strings.ToLower(t)
	}
	switch kind {
	case "single":
	case "pool":
		b.pool = true
	default:
		return fmt.Errorf("%s.properties.type: %s is not a backend type: want Single or Pool", where, clip(p["type"].(string)))
	}
	if b.pool {
		if err := im.poolServices(b, where+".properties.pool", p["pool"]); err != nil {
			return err
		}
	} else if err := im.singleBackend(b, where, p); err != nil {
		return err
	}
	im.byName[name] = b
	im.backends = append(im.backends, b)
	return nil
}

func (im *importer) singleBackend(b *backend, where string, p map[string]any) error {
	switch u := p["url"].(type) {
	case string:
		b.out.URL = u
	case unresolved:
		if _, ok := im.opts.URLs[b.name]; !ok {
			return fmt.Errorf("%s.properties.url: backend %q: the URL is %s, known only at deployment: give it with --url %s=URL", where, b.name, u.Expr, b.name)
		}
	case nil:
		if _, ok := im.opts.URLs[b.name]; !ok {
			return fmt.Errorf("%s.properties.url: backend %q has no url: give it with --url %s=URL", where, b.name, b.name)
		}
	default:
		return fmt.Errorf("%s.properties.url: want a string, got a %s", where, typeName(u))
	}
	if u, ok := im.opts.URLs[b.name]; ok {
		b.out.URL = u
	}
	region := ""
	switch {
	case im.opts.Regions[b.name] != "":
		region = im.opts.Regions[b.name]
	case p["azureRegion"] != nil:
		if s, ok := p["azureRegion"].(string); ok {
			// ARM location names: "Sweden Central" is swedencentral.
			region = strings.ToLower(strings.ReplaceAll(s, " ", ""))
		} else {
			im.warn("%s.properties.azureRegion is %s: not used", where, describeValue(p["azureRegion"]))
		}
	case len(im.opts.RegionSuffixes) > 0:
		region = im.opts.RegionSuffixes[b.name[strings.LastIndexByte(b.name, '-')+1:]]
	}
	if region == "" {
		im.warn("backend %q has no region (APIM backends have none, except azureRegion from API version 2025-03-01-preview): per-region priorities cannot place it; set --region %s=REGION", b.name, b.name)
	}
	b.out.Region = region
	if c, ok := p["credentials"].(map[string]any); ok {
		if err := im.credentials(b, where+".properties.credentials", c); err != nil {
			return err
		}
	}
	if cb, ok := p["circuitBreaker"].(map[string]any); ok {
		rule, err := im.breaker(b, where+".properties.circuitBreaker", cb)
		if err != nil {
			return err
		}
		if rule != nil {
			b.out.CircuitBreaker = &outBreaker{Rules: []outRule{*rule}}
		}
	}
	for _, k := range []string{"tls", "proxy", "serviceFabricCluster"} {
		if p[k] != nil {
			im.warn("%s.properties.%s: backend %q: %s is not imported", where, k, b.name, k)
		}
	}
	return nil
}

var namedValueRE = regexp.MustCompile(`\{\{([^{}]+)\}\}`)

// envName makes an environment variable name from free text: upper case, every other
// character an underscore.
func envName(parts ...string) string {
	s := strings.ToUpper(strings.Join(parts, "_"))
	var b strings.Builder
	for _, c := range s {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	out := b.String()
	if out == "" || (out[0] >= '0' && out[0] <= '9') {
		out = "_" + out
	}
	return out
}

func (im *importer) credentials(b *backend, where string, c map[string]any) error {
	for _, k := range []string{"query", "authorization", "certificate", "certificateIds"} {
		if v := c[k]; v != nil && !isEmpty(v) {
			im.warn("%s.%s: backend %q: credentials.%s is not imported (poolpilot sends credentials headers only)", where, k, b.name, k)
		}
	}
	h, ok := c["header"].(map[string]any)
	if !ok || len(h) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range sortedKeys(h) {
		hp := fmt.Sprintf("%s.header[%s]", where, clip(name))
		vals, ok := h[name].([]any)
		if !ok {
			vals = []any{h[name]} // tolerate a single value where APIM writes an array
		}
		var parts []string
		for _, v := range vals {
			switch x := v.(type) {
			case string:
				parts = append(parts, im.headerValue(b.name, name, x))
			case unresolved:
				env := envName(b.name, name)
				im.warn("backend %q header %s is %s, known only at deployment: written as ${%s}; set %s to the value and allow it with --allow-env %s", b.name, name, x.Expr, env, env, env)
				parts = append(parts, "${"+env+"}")
			default:
				return fmt.Errorf("%s: want strings, got a %s", hp, typeName(v))
			}
		}
		if len(parts) > 1 {
			im.warn("%s: backend %q header %s has %d values: sent as one, joined with \",\"", hp, b.name, name, len(parts))
		}
		out[name] = strings.Join(parts, ",")
	}
	b.out.Credentials = &outCreds{Header: out}
	return nil
}

// headerValue turns APIM named values ({{name}}) into ${ENV} references; a literal
// "${" is escaped so the model does not read it as a reference.
func (im *importer) headerValue(backend, header, v string) string {
	v = strings.ReplaceAll(v, "${", "$${")
	if !namedValueRE.MatchString(v) {
		im.warn("backend %q header %s is a literal value: it is written into the model as is; consider a ${ENV_VAR} reference for a secret", backend, header)
		return v
	}
	return namedValueRE.ReplaceAllStringFunc(v, func(m string) string {
		nv := strings.TrimSpace(m[2 : len(m)-2])
		env := envName(nv)
		im.warn("backend %q header %s uses the APIM named value {{%s}}: written as ${%s}; set %s to its value and allow it with --allow-env %s", backend, header, nv, env, env, env)
		return "${" + env + "}"
	})
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return v == nil
}

func describeValue(v any) string {
	if u, ok := v.(unresolved); ok {
		return u.Expr + ", known only at deployment"
	}
	return "a " + typeName(v)
}

// toInt reads a JSON number, an evaluated integer or a numeric string (ARM accepts
// "3" where an int is declared).
func toInt(v any, where string) (int, error) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.Atoi(x.String())
		if err == nil {
			return n, nil
		}
	case int64:
		return int(x), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%s: want an integer, got %s", where, describeValue(v))
}

func toBool(v any, where string) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		if b, err := strconv.ParseBool(x); err == nil {
			return b, nil
		}
	}
	return false, fmt.Errorf("%s: want true or false, got %s", where, describeValue(v))
}

func toDuration(v any, where string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s: want an ISO-8601 duration such as PT30S, got %s", where, describeValue(v))
	}
	if _, err := model.ParseDuration(s); err != nil {
		return "", fmt.Errorf("%s: %v", where, err)
	}
	return s, nil
}

func (im *importer) breaker(b *backend, where string, cb map[string]any) (*outRule, error) {
	rules, ok := cb["rules"].([]any)
	if !ok || len(rules) == 0 {
		im.warn("%s: backend %q: a circuit breaker without rules is not imported", where, b.name)
		return nil, nil
	}
	if len(rules) > 1 {
		im.warn("%s.rules: backend %q has %d rules; APIM applies one per backend: only rules[0] is imported", where, b.name, len(rules))
	}
	rp := where + ".rules[0]"
	r, ok := rules[0].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a rule object, got a %s", rp, typeName(rules[0]))
	}
	var out outRule
	out.Name, _ = r["name"].(string)
	var err error
	if out.TripDuration, err = toDuration(r["tripDuration"], rp+".tripDuration"); err != nil {
		return nil, err
	}
	if v, ok := r["acceptRetryAfter"]; ok {
		if out.AcceptRetryAfter, err = toBool(v, rp+".acceptRetryAfter"); err != nil {
			return nil, err
		}
	}
	if r["failureResponse"] != nil {
		im.warn("%s.failureResponse: backend %q: the response APIM returns while tripped is not imported (Envoy answers 503)", rp, b.name)
	}
	fc, ok := r["failureCondition"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s.failureCondition: is required", rp)
	}
	fp := rp + ".failureCondition"
	if v, ok := fc["count"]; ok {
		if out.FailureCondition.Count, err = toInt(v, fp+".count"); err != nil {
			return nil, err
		}
	}
	if v, ok := fc["percentage"]; ok {
		if out.FailureCondition.Percentage, err = toInt(v, fp+".percentage"); err != nil {
			return nil, err
		}
	}
	if out.FailureCondition.Interval, err = toDuration(fc["interval"], fp+".interval"); err != nil {
		return nil, err
	}
	if v, ok := fc["errorReasons"]; ok {
		list, ok := v.([]any)
		if !ok {
			list = []any{v} // some API versions' docs show a single string
		}
		for i, x := range list {
			s, _ := x.(string)
			if model.ErrorReason(s).Valid() {
				out.FailureCondition.ErrorReasons = append(out.FailureCondition.ErrorReasons, s)
				continue
			}
			im.warn("%s.errorReasons[%d]: backend %q: %s is not an error reason poolpilot reads (%s): dropped; statusCodeRanges say which responses count", fp, i, b.name, clip(s), reasonsText("", ", "))
		}
	}
	if v, ok := fc["statusCodeRanges"]; ok {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("%s.statusCodeRanges: want an array, got a %s", fp, typeName(v))
		}
		for i, x := range list {
			rg, err := statusRangeOf(x, fmt.Sprintf("%s.statusCodeRanges[%d]", fp, i))
			if err != nil {
				return nil, err
			}
			out.FailureCondition.StatusCodeRanges = append(out.FailureCondition.StatusCodeRanges, rg)
		}
	}
	if len(out.FailureCondition.ErrorReasons)+len(out.FailureCondition.StatusCodeRanges) == 0 {
		return nil, fmt.Errorf("%s: backend %q: the rule names no statusCodeRanges and no error reason poolpilot reads (%s)", fp, b.name, reasonsText("", ", "))
	}
	return &out, nil
}

func statusRangeOf(v any, where string) (outRange, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return outRange{}, fmt.Errorf("%s: want {min, max}, got a %s", where, typeName(v))
	}
	lo, err := toInt(m["min"], where+".min")
	if err != nil {
		return outRange{}, err
	}
	hi := lo
	if m["max"] != nil {
		if hi, err = toInt(m["max"], where+".max"); err != nil {
			return outRange{}, err
		}
	}
	return outRange{Min: lo, Max: hi}, nil
}

func (im *importer) poolServices(b *backend, where string, v any) error {
	p, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: a Pool backend needs pool.services, got %s", where, describeValue(v))
	}
	list, ok := p["services"].([]any)
	if !ok || len(list) == 0 {
		return fmt.Errorf("%s.services: a Pool backend needs at least one service {id, priority, weight}", where)
	}
	for _, k := range []string{"sessionAffinity", "failureResponse"} {
		if p[k] != nil {
			im.warn("%s.%s: pool %q: %s is not imported", where, k, b.name, k)
		}
	}
	for i, x := range list {
		sp := fmt.Sprintf("%s.services[%d]", where, i)
		m, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want {id, priority, weight}, got a %s", sp, typeName(x))
		}
		id, ok := m["id"].(string)
		if !ok || id == "" {
			return fmt.Errorf("%s.id: want the member backend's id (…/backends/NAME), got %s", sp, describeValue(m["id"]))
		}
		s := service{id: id, where: sp}
		for _, f := range []struct {
			key string
			dst **int
		}{{"priority", &s.priority}, {"weight", &s.weight}} {
			if v, ok := m[f.key]; ok && v != nil {
				n, err := toInt(v, sp+"."+f.key)
				if err != nil {
					return err
				}
				*f.dst = &n
			}
		}
		b.svcs = append(b.svcs, s)
	}
	return nil
}

// resolvePool checks that every pool service names an imported single backend.
func (im *importer) resolvePool(b *backend) error {
	for _, s := range b.svcs {
		name := lastSegment(s.id)
		m, ok := im.byName[name]
		switch {
		case !ok:
			return fmt.Errorf("%s.id: pool %q: no backend named %s (from id %s) among the imported backends", s.where, b.name, clip(name), clip(s.id))
		case m.pool:
			return fmt.Errorf("%s.id: pool %q: %q is a pool; APIM pools hold single backends only", s.where, b.name, name)
		}
	}
	return nil
}

// readPolicy reads one API's policy document. where names the file (and, for a policy
// inside an ARM template, the JSON path of its value).
func (im *importer) readPolicy(where, api string, data []byte) error {
	root, err := parseXML(where, escapeExpressions(data))
	if err != nil {
		return err
	}
	if root.Name != "policies" {
		return fmt.Errorf("%s:%d: the root element is <%s>: want <policies>", where, root.Line, root.Name)
	}
	if len(api) > model.MaxNameLen {
		return fmt.Errorf("%s: API name %s is %d characters long; a model allows at most %d", where, clip(api), len(api), model.MaxNameLen)
	}
	if prev, dup := im.apiSeen[api]; dup {
		return fmt.Errorf("%s: API %q (named after the file) is already imported from %s", where, api, prev)
	}
	im.apiSeen[api] = where
	a := outAPI{Name: api}
	if p, ok := im.opts.PathPrefixes[api]; ok {
		a.PathPrefix = p
	} else if p, ok := im.apiPaths[api]; ok {
		a.PathPrefix = p
	} else {
		a.PathPrefix = "/" + api + "/"
		im.warn("API %q: the APIM API path is not in its policy: path prefix %s assumed; set it with --path-prefix %s=/PATH/", api, a.PathPrefix, api)
	}
	handled := map[*xmlElem]bool{root: true}
	for _, sec := range root.Children {
		handled[sec] = true
	}
	sbs := root.find("set-backend-service")
	if len(sbs) == 0 {
		return fmt.Errorf("%s: API %q: no <set-backend-service backend-id=\"...\"/>: the policy must name the backend or pool", where, api)
	}
	sb := sbs[0]
	for _, extra := range sbs[1:] {
		handled[extra] = true
		im.warn("%s:%d: API %q: a second <set-backend-service> is ignored; the first (line %d) is used", where, extra.Line, api, sb.Line)
	}
	handled[sb] = true
	id := sb.Attr["backend-id"]
	switch {
	case id == "":
		return fmt.Errorf("%s:%d: <set-backend-service> has no backend-id: base-url is not imported; create a backend for it and name it with backend-id", where, sb.Line)
	case strings.HasPrefix(id, "@"):
		return fmt.Errorf("%s:%d: <set-backend-service backend-id> is an expression: want the name of a backend or pool", where, sb.Line)
	case im.byName[id] == nil:
		return fmt.Errorf("%s:%d: <set-backend-service backend-id=%s>: no backend or pool named %s among the imported backends", where, sb.Line, clip(id), clip(id))
	}
	a.Backend = id
	if rws := root.find("rewrite-uri"); len(rws) > 0 {
		rw := rws[0]
		handled[rw] = true
		t := rw.Attr["template"]
		switch {
		case t == "":
			return fmt.Errorf("%s:%d: <rewrite-uri> has no template", where, rw.Line)
		case strings.ContainsAny(t, "{}@?"):
			im.warn("%s:%d: API %q: rewrite-uri template %s has parameters or an expression: not imported (poolpilot rewrites the path prefix only)", where, rw.Line, api, clip(t))
		default:
			a.RewritePrefix = t
		}
	}
	if rts := root.find("retry"); len(rts) > 0 {
		rt := rts[0]
		for _, el := range rts {
			handled[el] = true
		}
		if len(rts) > 1 {
			im.warn("%s:%d: API %q: only the first <retry> (line %d) is imported", where, rts[1].Line, api, rt.Line)
		}
		r, err := im.retry(where, api, rt, handled)
		if err != nil {
			return err
		}
		a.Retry = r
	}
	var walkErr error
	root.walk(func(el *xmlElem) {
		if handled[el] || el.Name == "base" {
			return
		}
		if el.Name == "forward-request" {
			if el.Attr["buffer-request-body"] == "true" {
				im.warn("%s:%d: API %q: buffer-request-body outside <retry> is not imported (poolpilot buffers for retries)", where, el.Line, api)
			}
			// Without a retry, the forward-request timeout bounds the whole request.
			t, err := secondsAttr(where, el, "forward-request", "timeout")
			if err != nil && walkErr == nil {
				walkErr = err
			}
			if t != "" {
				a.Timeout = t
			}
			return
		}
		im.warn("%s:%d: API %q: policy <%s> is not imported", where, el.Line, api, el.Name)
	})
	if walkErr != nil {
		return walkErr
	}
	im.apis = append(im.apis, a)
	return nil
}

func (im *importer) retry(where, api string, rt *xmlElem, handled map[*xmlElem]bool) (*outRetry, error) {
	r := &outRetry{}
	at := func(attr string) string { return fmt.Sprintf("%s:%d: <retry %s>", where, rt.Line, attr) }
	literal := func(attr string) (string, bool, error) {
		v, ok := rt.Attr[attr]
		if !ok {
			return "", false, nil
		}
		if strings.HasPrefix(v, "@") || strings.Contains(v, "{{") {
			return "", false, fmt.Errorf("%s is %s, an expression or named value: want a literal", at(attr), clip(v))
		}
		return strings.TrimSpace(v), true, nil
	}
	seconds := func(attr string) (string, error) {
		v, ok, err := literal(attr)
		if err != nil || !ok {
			return "", err
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return "", fmt.Errorf("%s is %s: want a whole number of seconds", at(attr), clip(v))
		}
		if n == 0 {
			return "", nil
		}
		return fmt.Sprintf("PT%dS", n), nil
	}
	v, ok, err := literal("count")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: count is required", at("count"))
	}
	if r.Count, err = strconv.Atoi(v); err != nil {
		return nil, fmt.Errorf("%s is %s: want a number 1–50", at("count"), clip(v))
	}
	if r.Interval, err = seconds("interval"); err != nil {
		return nil, err
	}
	if r.MaxInterval, err = seconds("max-interval"); err != nil {
		return nil, err
	}
	if r.Delta, err = seconds("delta"); err != nil {
		return nil, err
	}
	if v, ok, err := literal("first-fast-retry"); err != nil {
		return nil, err
	} else if ok {
		if r.FirstFastRetry, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("%s is %s: want true or false", at("first-fast-retry"), clip(v))
		}
	}
	cond, ok := rt.Attr["condition"]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: condition is required (APIM requires it)", at("condition"))
	default:
		c, err := parseCondition(cond)
		if err != nil {
			im.warn("%s:%d: API %q: retry condition %s is not one of the forms read (StatusCode comparisons, context.Response == null, context.LastError.Reason == \"...\", joined with || and &&): %v; the retry is kept with poolpilot's default (502–504 and BackendConnectionFailure)", where, rt.Line, api, clip(cond), err)
			break
		}
		for _, rg := range c.ranges {
			r.StatusCodeRanges = append(r.StatusCodeRanges, outRange(rg))
		}
		r.ErrorReasons = c.reasons
	}
	for _, fr := range rt.find("forward-request") {
		handled[fr] = true
		if b, err := strconv.ParseBool(fr.Attr["buffer-request-body"]); err == nil && b {
			r.BufferRequestBody = true
		}
		// Inside a retry the forward-request timeout bounds each attempt.
		t, err := secondsAttr(where, fr, "forward-request", "timeout")
		if err != nil {
			return nil, err
		}
		if t != "" {
			r.PerTryTimeout = t
		}
	}
	return r, nil
}

// secondsAttr reads a whole number of seconds from a policy attribute as an ISO-8601
// duration; "" when the attribute is absent.
func secondsAttr(where string, el *xmlElem, elem, attr string) (string, error) {
	v, ok := el.Attr[attr]
	if !ok {
		return "", nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return "", fmt.Errorf("%s:%d: <%s %s> is %s: want a whole number of seconds (an expression or named value is not imported)", where, el.Line, elem, attr, clip(v))
	}
	return fmt.Sprintf("PT%dS", n), nil
}

// checkFlags rejects flag values that name nothing imported, so a typo is not silently
// ignored.
func (im *importer) checkFlags() error {
	for _, f := range []struct {
		flag string
		keys map[string]string
		ok   func(string) bool
	}{
		{"--region", im.opts.Regions, func(n string) bool { b := im.byName[n]; return b != nil && !b.pool }},
		{"--url", im.opts.URLs, func(n string) bool { b := im.byName[n]; return b != nil && !b.pool }},
		{"--path-prefix", im.opts.PathPrefixes, func(n string) bool { _, ok := im.apiSeen[n]; return ok }},
	} {
		for _, k := range sortedKeys(f.keys) {
			if !f.ok(k) {
				return fmt.Errorf("%s %s=...: nothing imported is named %q", f.flag, k, k)
			}
		}
	}
	return nil
}

func (im *importer) result(files []File) (*Result, error) {
	var m outModel
	for _, b := range im.backends {
		if !b.pool {
			m.Backends = append(m.Backends, b.out)
		}
	}
	for _, b := range im.backends {
		if !b.pool {
			continue
		}
		p := outPool{Name: b.name, PreferLocalRegion: im.opts.PreferLocalRegion}
		for _, s := range b.svcs {
			if s.weight != nil && *s.weight == 0 {
				// APIM accepts weight 0; Envoy rejects it (model.MaxWeight).
				im.warn("%s.weight: pool %q: %s has weight 0, which Envoy does not accept: the member is left out", s.where, b.name, lastSegment(s.id))
				continue
			}
			mem := outMember{Backend: lastSegment(s.id), Weight: s.weight}
			if s.priority != nil {
				mem.Priority = *s.priority
			}
			p.Services = append(p.Services, mem)
		}
		if len(p.Services) == 0 {
			return nil, fmt.Errorf("%s.properties.pool.services: pool %q: every member has weight 0: give at least one a weight of 1–%d", b.where, b.name, model.MaxWeight)
		}
		m.Pools = append(m.Pools, p)
	}
	m.APIs = im.apis
	if len(m.APIs) > 0 {
		l := outListener{Name: im.opts.Listener, Port: im.opts.Port}
		for _, a := range m.APIs {
			l.APIs = append(l.APIs, a.Name)
		}
		m.Listeners = []outListener{l}
	}
	var buf bytes.Buffer
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f.Name)
	}
	fmt.Fprintf(&buf, "# Imported from API Management by poolpilot import apim: %s\n", strings.Join(names, ", "))
	fmt.Fprintf(&buf, "# Check the warnings it printed; secrets are ${ENV_VAR} references to set.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	// The output must be a model poolpilot accepts. Secret references are checked for
	// syntax only: their variables are set where the model is served, not here.
	_, err := model.LoadBytes("imported model", buf.Bytes(),
		model.WithLookupEnv(func(string) (string, bool) { return "set", true }))
	if err != nil {
		var lines []string
		es, _ := model.AsErrors(err)
		for _, e := range es {
			lines = append(lines, e.Error())
		}
		if len(lines) == 0 {
			lines = []string{err.Error()}
		}
		return nil, fmt.Errorf("the imported model is not valid (lines are those of the model import writes):\n  %s\n%s", strings.Join(lines, "\n  "), numbered(buf.Bytes()))
	}
	return &Result{YAML: buf.Bytes(), Warnings: im.warnings}, nil
}

// ReadParameters reads an ARM parameters file: {"parameters": {"NAME": {"value": V}}}.
// A Key Vault reference becomes a value known only at deployment.
func ReadParameters(f File) (map[string]any, error) {
	f.Data = blankBOM(f.Data)
	obj, err := decodeJSON(f)
	if err != nil {
		return nil, err
	}
	ps, ok := obj["parameters"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: parameters: want an object of {\"NAME\": {\"value\": ...}}, got %s", f.Name, describeValue(obj["parameters"]))
	}
	out := map[string]any{}
	for _, k := range sortedKeys(ps) {
		p, ok := ps[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: parameters.%s: want {\"value\": ...}, got a %s", f.Name, k, typeName(ps[k]))
		}
		switch {
		case p["reference"] != nil:
			out[k] = unresolved{Expr: "a Key Vault reference"}
		case p["value"] != nil:
			out[k] = p["value"]
		default:
			return nil, fmt.Errorf("%s: parameters.%s: want \"value\" or \"reference\"", f.Name, k)
		}
	}
	return out, nil
}

// numbered prints the model with line numbers, for the errors that refer to them.
func numbered(b []byte) string {
	var out strings.Builder
	for i, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		fmt.Fprintf(&out, "%4d  %s\n", i+1, l)
	}
	return out.String()
}
