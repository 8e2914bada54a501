// Package schema generates the JSON Schema of poolpilot's model files from the model's Go
// types, for editors (the YAML language server) and for checking models before a load.
//
// The schema is generated with github.com/invopop/jsonschema, using the YAML field names,
// and refined with what the loader checks that JSON Schema can say: allowed values,
// ranges, patterns, defaults and required fields. It accepts every model the loader
// accepts (the loader checks more than a schema can say). The committed copy is docs/model.schema.json; this package is
// kept out of the poolpilot binary, which prints that copy (see package docs).
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"

	"github.com/poolpilot/poolpilot/model"
)

// ID is the schema's $id.
const ID = "https://github.com/poolpilot/poolpilot/docs/model.schema.json"

var (
	durationType    = reflect.TypeFor[model.Duration]()
	secretType      = reflect.TypeFor[model.Secret]()
	errorReasonType = reflect.TypeFor[model.ErrorReason]()
	scopeType       = reflect.TypeFor[model.BreakerScope]()
	modelPkg        = reflect.TypeFor[model.Model]().PkgPath()
)

// Generate returns the model's JSON Schema, indented, ending in a newline. modelDir is
// the model package's source directory: field descriptions that this package does not
// write itself come from the doc comments there, so a new documented field needs only a
// regeneration.
func Generate(modelDir string) ([]byte, error) {
	comments, err := goComments(modelDir)
	if err != nil {
		return nil, err
	}
	r := &jsonschema.Reflector{
		FieldNameTag: "yaml",
		// The loader requires fields by its own rules (see refine), not by omitempty.
		RequiredFromJSONSchemaTags: true,
		Mapper:                     mapType,
		LookupComment: func(t reflect.Type, field string) string {
			key := t.Name()
			if field != "" {
				key += "." + field
			}
			if d, ok := descriptions[key]; ok {
				return d
			}
			return yamlNamed(t, field, comments[key])
		},
	}
	s := r.Reflect(&model.Model{})
	s.ID = ID
	s.Title = "poolpilot model"
	if err := refine(s); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// goComments reads the doc comments of the model package's exported types and their
// fields, keyed "Type" and "Type.Field".
func goComments(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("model source: %w", err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("model source: %w", err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, modelPkg)
	if err != nil {
		return nil, fmt.Errorf("model source: %w", err)
	}
	out := map[string]string{}
	for _, t := range pkg.Types {
		out[t.Name] = oneLine(pkg.Synopsis(t.Doc))
		for _, spec := range t.Decl.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, f := range st.Fields.List {
				txt := f.Doc.Text()
				if txt == "" {
					txt = f.Comment.Text()
				}
				for _, n := range f.Names {
					if txt != "" {
						out[t.Name+"."+n.Name] = oneLine(txt)
					}
				}
			}
		}
	}
	return out, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// yamlNamed starts a field's Go comment ("ConnectTimeout bounds ...") with the name a
// model file uses ("connectTimeout bounds ...").
func yamlNamed(t reflect.Type, field, comment string) string {
	if field == "" || t.Kind() != reflect.Struct {
		return comment
	}
	f, ok := t.FieldByName(field)
	if !ok {
		return comment
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if rest, ok := strings.CutPrefix(comment, field+" "); ok && name != "" && name != "-" {
		return name + " " + rest
	}
	return comment
}

// mapType gives the model's custom scalar types their schema: how they are written in a
// model file, not their Go structure. Each call returns a new schema, since the reflector
// sets a field's description on it.
func mapType(t reflect.Type) *jsonschema.Schema {
	switch t {
	case durationType:
		return &jsonschema.Schema{
			Type:     "string",
			Pattern:  durationPattern,
			Examples: []any{"PT30S", "30s"},
		}
	case secretType:
		// The loader reads a number as its text: a literal secret may be all digits.
		return &jsonschema.Schema{Extras: map[string]any{"type": []string{"string", "number"}}}
	case scopeType:
		return enumOf(model.BreakerScopes)
	case errorReasonType:
		return enumOf(model.ErrorReasons)
	}
	return nil
}

// enumOf is the schema of a string type whose values are the closed set values.
func enumOf[T ~string](values []T) *jsonschema.Schema {
	enum := make([]any, len(values))
	for i, v := range values {
		enum[i] = string(v)
	}
	return &jsonschema.Schema{Type: "string", Enum: enum}
}

// Patterns use only syntax that both ECMA-262 (editors) and Go's RE2 (tests) read.
const (
	// A duration as model.ParseDuration reads it: ISO-8601 days, weeks and times
	// ("PT30S", "P1DT2H", "PT0.5S"; P and the units in either case), or a Go duration
	// ("30s", "1m30s", "500ms"). Surrounding spaces are ignored.
	durationPattern = `^\s*(` + isoDuration + `|` + goDuration + `)\s*$`
	isoNum          = `[0-9]+([.,][0-9]+)?`
	isoTime         = `[Tt](` + isoNum + `[Hh](` + isoNum + `[Mm])?(` + isoNum + `[Ss])?|` + isoNum + `[Mm](` + isoNum + `[Ss])?|` + isoNum + `[Ss])`
	isoDuration     = `[Pp](` + isoNum + `[Ww](` + isoNum + `[Dd])?(` + isoTime + `)?|` + isoNum + `[Dd](` + isoTime + `)?|` + isoTime + `)`
	goNum           = `([0-9]+(\.[0-9]*)?|\.[0-9]+)`
	goDuration      = `\+?(0|(` + goNum + `(ns|us|µs|μs|ms|s|m|h))+)`

	namePattern   = `^[A-Za-z0-9._-]+$`
	headerPattern = "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"
	// http or https (either case), a host, an optional path; no query or fragment.
	urlPattern = `^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+(/[^?#]*)?$`
	// A path starts with / and holds no ?, #, space or control character.
	pathPattern = `^/[^?# \x00-\x1f\x7f-\x9f]*$`
	// A file path on the proxy: absolute, without NUL or a line break.
	absPathPattern = `^/[^\x00\n]*$`
)
