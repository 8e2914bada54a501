package apim

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// ARM template expressions ("[concat('a', parameters('b'))]") are evaluated by a small
// evaluator of their own: no maintained Go library evaluates them (the Bicep compiler and
// ARM are .NET services), and an import needs only the functions that build names, URLs
// and ids. What only a deployment knows (listKeys, reference, subscription()) evaluates to
// an unresolved value that records its source, so the caller can turn a secret into a
// ${ENV_VAR} reference and refuse an unresolvable URL.

// unresolved is a value that only a deployment can compute.
type unresolved struct {
	// Expr is the function that could not be evaluated, e.g. "listKeys(...)".
	Expr string
}

// armEval evaluates the expressions of one template.
type armEval struct {
	file      string
	params    map[string]any // declared parameters: name (lower case) → declaration
	paramVals map[string]any // values from the parameters file: name (lower case) → value
	vars      map[string]any // declared variables: name (lower case) → raw value
	varDone   map[string]any
	varBusy   map[string]bool
}

func newARMEval(file string, tmpl map[string]any, paramVals map[string]any) *armEval {
	e := &armEval{file: file, params: map[string]any{}, paramVals: map[string]any{},
		vars: map[string]any{}, varDone: map[string]any{}, varBusy: map[string]bool{}}
	if p, ok := tmpl["parameters"].(map[string]any); ok {
		for k, v := range p {
			e.params[strings.ToLower(k)] = v
		}
	}
	for k, v := range paramVals {
		e.paramVals[strings.ToLower(k)] = v
	}
	if v, ok := tmpl["variables"].(map[string]any); ok {
		for k, x := range v {
			e.vars[strings.ToLower(k)] = x
		}
	}
	return e
}

// value evaluates every expression string inside v (a decoded JSON value).
func (e *armEval) value(v any, path string) (any, error) {
	switch x := v.(type) {
	case string:
		return e.str(x, path)
	case map[string]any:
		out := make(map[string]any, len(x))
		for _, k := range sortedKeys(x) {
			r, err := e.value(x[k], path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			r, err := e.value(el, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
	return v, nil
}

// str evaluates s when it is an expression: "[...]"; "[[" starts a literal "[".
func (e *armEval) str(s, path string) (any, error) {
	if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
		return s, nil
	}
	if strings.HasPrefix(s, "[[") {
		return s[1:], nil
	}
	p := &exprParser{src: s[1 : len(s)-1]}
	n, err := p.parse()
	if err != nil {
		return nil, &exprError{fmt.Sprintf("%s: %s: expression %s: %v", e.file, path, clip(s), err)}
	}
	v, err := e.eval(n)
	if err != nil {
		var inner *exprError
		if errors.As(err, &inner) {
			// From a parameter or variable this expression uses: that place is the one to fix.
			return nil, err
		}
		return nil, &exprError{fmt.Sprintf("%s: %s: expression %s: %v", e.file, path, clip(s), err)}
	}
	return v, nil
}

// exprError is an evaluation error already naming its file, path and expression.
type exprError struct{ msg string }

func (e *exprError) Error() string { return e.msg }

func (e *armEval) eval(n *exprNode) (any, error) {
	var v any
	switch n.kind {
	case nodeString:
		v = n.str
	case nodeInt:
		v = n.num
	case nodeCall:
		args := make([]any, len(n.args))
		for i, a := range n.args {
			x, err := e.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = x
		}
		var err error
		if v, err = e.call(n.str, args); err != nil {
			return nil, err
		}
	}
	for _, acc := range n.access {
		key := acc.str
		if acc.index != nil {
			k, err := e.eval(acc.index)
			if err != nil {
				return nil, err
			}
			key = fmt.Sprint(k)
		}
		switch x := v.(type) {
		case unresolved:
			v = unresolved{Expr: x.Expr}
		case map[string]any:
			found := false
			for k, el := range x {
				if strings.EqualFold(k, key) {
					v, found = el, true
					break
				}
			}
			if !found {
				return nil, fmt.Errorf("the object has no property %s", clip(key))
			}
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("index %s is outside the array (length %d)", key, len(x))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("cannot take .%s of a %s", key, typeName(v))
		}
	}
	return v, nil
}

// call runs one template function. Names are case-insensitive, as in ARM.
func (e *armEval) call(name string, args []any) (any, error) {
	lname := strings.ToLower(name)
	for _, a := range args {
		if u, ok := a.(unresolved); ok && lname != "resourceid" {
			// Anything built from a deployment-time value is one too.
			return unresolved{Expr: u.Expr}, nil
		}
	}
	want := func(n int) error {
		if len(args) != n {
			return fmt.Errorf("%s() takes %d argument(s), got %d", name, n, len(args))
		}
		return nil
	}
	switch lname {
	case "parameters":
		if err := want(1); err != nil {
			return nil, err
		}
		return e.parameter(fmt.Sprint(args[0]))
	case "variables":
		if err := want(1); err != nil {
			return nil, err
		}
		return e.variable(fmt.Sprint(args[0]))
	case "concat":
		if len(args) > 0 {
			if _, ok := args[0].([]any); ok {
				var out []any
				for _, a := range args {
					arr, ok := a.([]any)
					if !ok {
						return nil, fmt.Errorf("concat() of arrays got a %s", typeName(a))
					}
					out = append(out, arr...)
				}
				return out, nil
			}
		}
		var b strings.Builder
		for _, a := range args {
			s, err := scalar(a)
			if err != nil {
				return nil, fmt.Errorf("concat(): %v", err)
			}
			b.WriteString(s)
		}
		return b.String(), nil
	case "format":
		if len(args) < 1 {
			return nil, fmt.Errorf("format() needs a format string")
		}
		return format(fmt.Sprint(args[0]), args[1:])
	case "resourceid":
		return resourceID(args)
	case "tolower", "toupper", "string", "trim":
		if err := want(1); err != nil {
			return nil, err
		}
		s, err := scalar(args[0])
		if err != nil {
			return nil, fmt.Errorf("%s(): %v", name, err)
		}
		switch lname {
		case "tolower":
			return strings.ToLower(s), nil
		case "toupper":
			return strings.ToUpper(s), nil
		case "trim":
			return strings.TrimSpace(s), nil
		}
		return s, nil
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "last":
		if err := want(1); err != nil {
			return nil, err
		}
		switch x := args[0].(type) {
		case string:
			if x == "" {
				return "", nil
			}
			return x[len(x)-1:], nil
		case []any:
			if len(x) == 0 {
				return nil, fmt.Errorf("last() of an empty array")
			}
			return x[len(x)-1], nil
		}
		return nil, fmt.Errorf("last() of a %s", typeName(args[0]))
	case "split":
		if err := want(2); err != nil {
			return nil, err
		}
		s, err1 := scalar(args[0])
		sep, err2 := scalar(args[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("split() takes two strings")
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "reference", "resourcegroup", "subscription", "deployment", "environment",
		"uniquestring", "newguid", "utcnow", "tenant", "managementgroup":
		return unresolved{Expr: name + "(...)"}, nil
	}
	if strings.HasPrefix(lname, "list") {
		// listKeys, listSecrets, listCredentials, ...: secrets read at deployment time.
		return unresolved{Expr: name + "(...)"}, nil
	}
	return nil, fmt.Errorf("function %s() is not supported offline (supported: parameters, variables, format, concat, resourceId, toLower, toUpper, string, trim, split, last; list*/reference/resourceGroup/subscription become placeholders)", name)
}

func (e *armEval) parameter(name string) (any, error) {
	key := strings.ToLower(name)
	decl, declared := e.params[key]
	if v, ok := e.paramVals[key]; ok {
		if !declared {
			return nil, fmt.Errorf("parameter %s is in the parameters file but not declared in the template", clip(name))
		}
		return e.value(v, "parameters."+name)
	}
	if !declared {
		return nil, fmt.Errorf("no parameter %s is declared in the template", clip(name))
	}
	d, _ := decl.(map[string]any)
	def, ok := d["defaultValue"]
	if !ok {
		return nil, fmt.Errorf("parameter %s has no defaultValue: give it in a parameters file (--parameters FILE)", clip(name))
	}
	// A default may use other parameters and variables; a cycle would recurse forever.
	busy := "parameter:" + key
	if e.varBusy[busy] {
		return nil, fmt.Errorf("parameter %s refers to itself", clip(name))
	}
	e.varBusy[busy] = true
	defer delete(e.varBusy, busy)
	return e.value(def, "parameters."+name+".defaultValue")
}

func (e *armEval) variable(name string) (any, error) {
	key := strings.ToLower(name)
	if v, ok := e.varDone[key]; ok {
		return v, nil
	}
	raw, ok := e.vars[key]
	if !ok {
		return nil, fmt.Errorf("no variable %s is declared in the template", clip(name))
	}
	if e.varBusy[key] {
		return nil, fmt.Errorf("variable %s refers to itself", clip(name))
	}
	e.varBusy[key] = true
	defer delete(e.varBusy, key)
	v, err := e.value(raw, "variables."+name)
	if err != nil {
		return nil, err
	}
	e.varDone[key] = v
	return v, nil
}

// format implements ARM's format(): .NET composite formatting with {0}, {1}, ...
// and "{{" / "}}" for literal braces. Format specifiers ({0:D2}) are not supported.
func format(f string, args []any) (any, error) {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("format(): unclosed { in %s", clip(f))
			}
			n, err := strconv.Atoi(f[i+1 : i+end])
			if err != nil || n < 0 || n >= len(args) {
				return nil, fmt.Errorf("format(): placeholder %s does not name one of the %d argument(s)", clip(f[i:i+end+1]), len(args))
			}
			s, err := scalar(args[n])
			if err != nil {
				return nil, fmt.Errorf("format(): %v", err)
			}
			b.WriteString(s)
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// resourceID builds the id as ARM would, with the deployment's subscription and resource
// group left as placeholders: only the last segment (the backend name) is ever used.
// The optional leading subscription id and resource group name are recognised by
// position: the type is the first argument containing a "/".
func resourceID(args []any) (any, error) {
	typeAt := -1
	for i, a := range args {
		if s, ok := a.(string); ok && strings.Contains(s, "/") && strings.Count(s, ".") > 0 {
			typeAt = i
			break
		}
	}
	if typeAt < 0 || typeAt > 2 {
		return nil, fmt.Errorf("resourceId() needs a resource type such as 'Microsoft.ApiManagement/service/backends'")
	}
	typ := args[typeAt].(string)
	names := args[typeAt+1:]
	parts := strings.Split(typ, "/")
	if len(names) != len(parts)-1 {
		return nil, fmt.Errorf("resourceId(): type %s needs %d name(s), got %d", typ, len(parts)-1, len(names))
	}
	id := "/subscriptions/{subscription}/resourceGroups/{resourceGroup}/providers/" + parts[0]
	for i, n := range names {
		s, err := scalar(n)
		if err != nil {
			return nil, fmt.Errorf("resourceId(): name %d: %v", i+1, err)
		}
		id += "/" + parts[i+1] + "/" + s
	}
	return id, nil
}

// scalar formats a string, number or bool as ARM's concat and format do.
func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case bool:
		if x {
			return "True", nil
		}
		return "False", nil
	}
	return "", fmt.Errorf("want a string or number, got a %s", typeName(v))
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64, float64, json.Number:
		return "number"
	case bool:
		return "bool"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case nil:
		return "null"
	case unresolved:
		return "deployment-time value"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// clip quotes s for an error or a warning, shortened so that a huge value in an input
// file makes a readable message; a full ARM resource id fits.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		return strconv.Quote(s[:max] + "...")
	}
	return strconv.Quote(s)
}

// The expression syntax: literal | call accessor*, where call is name(args), an
// accessor is .name or [expr], a string literal is single-quoted with '' for a quote.

type nodeKind int

const (
	nodeString nodeKind = iota
	nodeInt
	nodeCall
)

type exprNode struct {
	kind   nodeKind
	str    string // string literal or function name
	num    int64
	args   []*exprNode
	access []accessor
}

type accessor struct {
	str   string    // .name
	index *exprNode // [expr]
}

type exprParser struct {
	src string
	pos int
}

const maxExprDepth = 64

// maxFuncName bounds a function name in an expression; ARM's longest are about 30 characters.
const maxFuncName = 64

func (p *exprParser) parse() (*exprNode, error) {
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.src) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.src[p.pos:p.pos+1], p.pos)
	}
	return n, nil
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *exprParser) expr(depth int) (*exprNode, error) {
	if depth > maxExprDepth {
		return nil, fmt.Errorf("nested more than %d deep", maxExprDepth)
	}
	p.space()
	if p.pos >= len(p.src) {
		return nil, fmt.Errorf("unexpected end of expression")
	}
	c := p.src[p.pos]
	var n *exprNode
	switch {
	case c == '\'':
		s, err := p.stringLit()
		if err != nil {
			return nil, err
		}
		n = &exprNode{kind: nodeString, str: s}
	case c == '-' || (c >= '0' && c <= '9'):
		start := p.pos
		p.pos++
		for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
			p.pos++
		}
		v, err := strconv.ParseInt(p.src[start:p.pos], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %s", clip(p.src[start:p.pos]))
		}
		n = &exprNode{kind: nodeInt, num: v}
	case isIdentStart(c):
		start := p.pos
		for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
			p.pos++
		}
		name := p.src[start:p.pos]
		if len(name) > maxFuncName {
			// The name is quoted in the messages below; no ARM function has so long a name.
			return nil, fmt.Errorf("%s is not a function: its name is %d characters long", clip(name), len(name))
		}
		p.space()
		if p.pos >= len(p.src) || p.src[p.pos] != '(' {
			return nil, fmt.Errorf("%s is not a function call: want %s(...)", name, name)
		}
		p.pos++
		n = &exprNode{kind: nodeCall, str: name}
		p.space()
		if p.pos < len(p.src) && p.src[p.pos] == ')' {
			p.pos++
			break
		}
		for {
			a, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			n.args = append(n.args, a)
			p.space()
			if p.pos >= len(p.src) {
				return nil, fmt.Errorf("missing ) after the arguments of %s", name)
			}
			if p.src[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.src[p.pos] == ')' {
				p.pos++
				break
			}
			return nil, fmt.Errorf("unexpected %q in the arguments of %s", p.src[p.pos:p.pos+1], name)
		}
	default:
		return nil, fmt.Errorf("unexpected %q at offset %d", p.src[p.pos:p.pos+1], p.pos)
	}
	for {
		p.space()
		if p.pos >= len(p.src) {
			return n, nil
		}
		switch p.src[p.pos] {
		case '.':
			p.pos++
			start := p.pos
			for p.pos < len(p.src) && isIdent(p.src[p.pos]) {
				p.pos++
			}
			if start == p.pos {
				return nil, fmt.Errorf("want a property name after . at offset %d", start)
			}
			n.access = append(n.access, accessor{str: p.src[start:p.pos]})
		case '[':
			p.pos++
			ix, err := p.expr(depth + 1)
			if err != nil {
				return nil, err
			}
			p.space()
			if p.pos >= len(p.src) || p.src[p.pos] != ']' {
				return nil, fmt.Errorf("missing ] at offset %d", p.pos)
			}
			p.pos++
			n.access = append(n.access, accessor{index: ix})
		default:
			return n, nil
		}
	}
}

func (p *exprParser) stringLit() (string, error) {
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		p.pos++
		if c != '\'' {
			b.WriteByte(c)
			continue
		}
		if p.pos < len(p.src) && p.src[p.pos] == '\'' {
			b.WriteByte('\'')
			p.pos++
			continue
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("unterminated string literal")
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || (c >= '0' && c <= '9') }
