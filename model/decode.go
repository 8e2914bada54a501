package model

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one document may expand to, aliases included,
// so that an alias bomb ("billion laughs") is an error rather than a hang.
const maxNodes = 200_000

// maxLoadNodes bounds the nodes of a whole load, all files and documents together, so
// that many documents each just under maxNodes cannot add up to minutes of work. A
// generated model of 10,000 backends with credentials uses about 281,000.
var maxLoadNodes = 10 * maxNodes // a variable only so that a test can lower it

var (
	durationType = reflect.TypeFor[Duration]()
	secretType   = reflect.TypeFor[Secret]()
	posType      = reflect.TypeFor[Pos]()
)

// decoder walks a yaml.Node tree into the model structs, strictly: unknown fields,
// wrong types and duplicate keys are errors. It keeps going after an error so that a
// load reports every problem at once, and records where each value was written.
type decoder struct {
	file    string
	errs    *errList
	secrets *secretResolver
	// pos maps a field path ("backends[0].url") to where its value was written.
	// Only present, non-null values are recorded, so it also tells presence.
	pos    map[string]Pos
	budget int
	// overBudget is the error when the budget runs out.
	overBudget string
	// stopped is set once the document is abandoned: too many values or errors.
	stopped bool
}

// newDecoder returns a decoder for one document of file; left is what remains of the
// load's node budget.
func newDecoder(file string, errs *errList, secrets *secretResolver, left int) *decoder {
	d := &decoder{file: file, errs: errs, secrets: secrets, pos: map[string]Pos{}, budget: maxNodes,
		overBudget: fmt.Sprintf("the document expands to more than %d values (aliases included); stopped reading this document; simplify it", maxNodes)}
	if left < maxNodes {
		d.budget = left
		d.overBudget = fmt.Sprintf("the model expands to more than %d values (aliases included); stopped reading it; simplify it", maxLoadNodes)
	}
	return d
}

func (d *decoder) posOf(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Column: n.Column} }

// fail reports a problem at n. Once the load holds as many errors as it keeps, the
// document is abandoned: an input made of errors (an aliased mapping of unknown keys)
// would otherwise cost memory and time in proportion to its expansion.
func (d *decoder) fail(n *yaml.Node, path, msg string) {
	if d.stopped {
		return
	}
	if d.errs.full() {
		d.stop(n, path, fmt.Sprintf("more than %d errors; stopped reading this document", maxKeptErrors))
		return
	}
	d.errs.add(d.posOf(n), path, msg)
	d.errs.markBad(d.file, path)
}

// stop abandons the document with one last error, kept even when the list is full.
func (d *decoder) stop(n *yaml.Node, path, msg string) {
	d.stopped = true
	d.errs.stops = append(d.errs.stops, &Error{Pos: d.posOf(n), Field: path, Msg: msg})
	d.errs.markBad(d.file, path)
}

// spend counts one node against the document's budget, reporting false (after saying
// why, once) when the document is over it. Every node the walk visits is counted,
// whether it decodes or fails: unknown and duplicate keys and empty entries too.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	if d.stopped {
		return false
	}
	if d.budget--; d.budget < 0 {
		d.stop(n, path, d.overBudget)
		return false
	}
	return true
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// join appends a field name to a path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decode fills v (addressable) from n. path names n for errors.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n, path) {
		return
	}
	at := n
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(at, path, "alias to nothing")
			return
		}
		n = n.Alias
	}
	if isNull(n) {
		return // an absent or null value keeps the zero value: defaults apply later
	}
	d.pos[path] = d.posOf(at)
	d.decodeValue(at, n, v, path)
}

// decodeValue fills v from n, a non-null node that at (n or an alias of it) stands for.
func (d *decoder) decodeValue(at, n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	switch {
	case t == durationType:
		d.decodeDuration(at, n, v, path)
		return
	case t == secretType:
		d.decodeSecret(at, n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		// The same value: no second count, alias walk or position.
		p := reflect.New(t.Elem())
		v.Set(p)
		d.decodeValue(at, n, p.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(at, n, v, path)
	case reflect.Slice:
		d.decodeSlice(at, n, v, path)
	case reflect.Map:
		d.decodeMap(at, n, v, path)
	case reflect.String:
		d.decodeString(at, n, v, path)
	case reflect.Int:
		d.decodeInt(at, n, v, path)
	case reflect.Bool:
		d.decodeBool(at, n, v, path)
	default:
		d.fail(at, path, fmt.Sprintf("internal error: cannot decode into %s", t))
	}
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("string %q", clip(n.Value))
		case "!!int":
			return "integer " + clip(n.Value)
		case "!!float":
			return "number " + clip(n.Value)
		case "!!bool":
			return "boolean " + clip(n.Value)
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), clip(n.Value))
	}
	return "something else"
}

// clip shortens a value quoted in an error, so a huge input makes a readable message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

func (d *decoder) decodeStruct(at, n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	posField := -1
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Type == posType && f.Name == "Pos" {
			posField = i
		}
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" || !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		fields[name] = i
		names = append(names, name)
	}
	if n.Kind != yaml.MappingNode {
		d.fail(at, path, fmt.Sprintf("want a mapping with %s; got %s", strings.Join(names, ", "), describe(n)))
		return
	}
	if posField >= 0 {
		v.Field(posField).Set(reflect.ValueOf(d.posOf(at)))
	}
	d.entries(n, path, func(k, val *yaml.Node, key, fp string) {
		fi, known := fields[key]
		if !known {
			if !d.spend(k, fp) {
				return
			}
			d.fail(k, fp, fmt.Sprintf("unknown field %q (allowed: %s)", clip(key), strings.Join(names, ", ")))
			return
		}
		d.decode(val, v.Field(fi), fp)
	})
}

// entries calls f for each entry of the mapping n whose key is a plain name not seen
// before in n; it reports the other keys. fp is the entry's path.
func (d *decoder) entries(n *yaml.Node, path string, f func(k, val *yaml.Node, key, fp string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content) && !d.stopped; i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, path)
		if !ok {
			d.spend(k, path)
			continue
		}
		fp := join(path, key)
		if line, dup := seen[key]; dup {
			if d.spend(k, fp) {
				d.fail(k, fp, fmt.Sprintf("duplicate key (first at line %d)", line))
			}
			continue
		}
		seen[key] = k.Line
		f(k, val, key, fp)
	}
}

// key returns a mapping key's text, or reports why it cannot be one.
func (d *decoder) key(k *yaml.Node, path string) (string, bool) {
	if k.Kind != yaml.ScalarNode {
		d.fail(k, path, fmt.Sprintf("keys must be plain names; got %s", describe(k)))
		return "", false
	}
	if k.ShortTag() == "!!merge" {
		d.fail(k, path, "merge keys (<<) are not supported; write the fields out")
		return "", false
	}
	return k.Value, true
}

func (d *decoder) decodeSlice(at, n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(at, path, fmt.Sprintf("want a list; got %s", describe(n)))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if d.stopped {
			break
		}
		ip := fmt.Sprintf("%s[%d]", path, i)
		if isNull(item) {
			if d.spend(item, ip) {
				d.fail(item, ip, "empty entry; remove it or fill it in")
			}
			continue
		}
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(at, n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(at, path, fmt.Sprintf("want a mapping; got %s", describe(n)))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	d.entries(n, path, func(_, val *yaml.Node, key, fp string) {
		e := reflect.New(v.Type().Elem()).Elem()
		d.decode(val, e, fp)
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	})
	v.Set(m)
}

func (d *decoder) decodeString(at, n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
		d.fail(at, path, fmt.Sprintf("want a string; got %s", describe(n)))
		return
	}
	// Numbers are fine as text (a name like 2024); booleans are not, they are
	// almost always a mistake (unquoted yes/no/true).
	v.SetString(n.Value)
}

func (d *decoder) decodeInt(at, n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		d.fail(at, path, fmt.Sprintf("want an integer; got %s", describe(n)))
		return
	}
	if v.OverflowInt(i) {
		d.fail(at, path, fmt.Sprintf("integer %s is too large", clip(n.Value)))
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeBool(at, n *yaml.Node, v reflect.Value, path string) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.fail(at, path, fmt.Sprintf("want true or false; got %s", describe(n)))
		return
	}
	v.SetBool(b)
}

func (d *decoder) decodeDuration(at, n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
			d.fail(at, path, fmt.Sprintf("%s has no unit (%s)", clip(n.Value), durationWant))
			return
		}
		d.fail(at, path, fmt.Sprintf("want a duration (%s); got %s", durationWant, describe(n)))
		return
	}
	dur, err := ParseDuration(n.Value)
	if err != nil {
		d.fail(at, path, err.Error())
		return
	}
	v.Set(reflect.ValueOf(Duration{dur}))
}

func (d *decoder) decodeSecret(at, n *yaml.Node, v reflect.Value, path string) {
	// Never quote the node: it may be a literal secret.
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!bool" {
		kind := "a mapping"
		switch {
		case n.Kind == yaml.SequenceNode:
			kind = "a list"
		case n.Kind == yaml.ScalarNode:
			kind = "a boolean"
		}
		d.fail(at, path, "want a string (a literal, ${ENV_VAR}, ${ENV_VAR:-default} or ${file:/path}); got "+kind)
		return
	}
	s, err := d.secrets.resolve(n.Value)
	if err != nil {
		d.fail(at, path, err.Error())
		return
	}
	v.Set(reflect.ValueOf(s))
}

// yamlSyntaxError turns a yaml.v3 parse error into an Error at its line.
func yamlSyntaxError(file string, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if l, err := strconv.Atoi(num); err == nil {
				line, msg = l, after
			}
		}
	}
	return &Error{Pos: Pos{File: file, Line: line}, Msg: "YAML syntax: " + msg}
}
