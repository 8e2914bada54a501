package apim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/poolpilot/poolpilot/model"
)

// xmlElem is one element of a policy document with the line it starts on.
type xmlElem struct {
	Name     string
	Attr     map[string]string
	Line     int
	Children []*xmlElem
}

// parseXML reads a policy document into a tree, keeping each element's line.
func parseXML(file string, data []byte) (*xmlElem, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	// APIM policies are XML with C# expressions in attributes; entities beyond XML's own
	// are not used, and strict mode reports what the APIM editor would reject.
	dec.Strict = true
	var root *xmlElem
	var stack []*xmlElem
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, fmt.Errorf("%s:%d: malformed XML: %s", file, se.Line, se.Msg)
			}
			line, _ := dec.InputPos()
			return nil, fmt.Errorf("%s:%d: malformed XML: %v", file, line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := dec.InputPos()
			el := &xmlElem{Name: t.Name.Local, Attr: map[string]string{}, Line: line}
			for _, a := range t.Attr {
				el.Attr[a.Name.Local] = a.Value
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, fmt.Errorf("%s:%d: malformed XML: a second root element <%s>", file, line, el.Name)
				}
				root = el
			} else {
				parent := stack[len(stack)-1]
				parent.Children = append(parent.Children, el)
			}
			stack = append(stack, el)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if root == nil {
		return nil, fmt.Errorf("%s:1: malformed XML: no root element", file)
	}
	return root, nil
}

// walk calls f for el and every element below it, in document order.
func (el *xmlElem) walk(f func(*xmlElem)) {
	f(el)
	for _, c := range el.Children {
		c.walk(f)
	}
}

// find returns the elements named name anywhere below el.
func (el *xmlElem) find(name string) []*xmlElem {
	var out []*xmlElem
	el.walk(func(e *xmlElem) {
		if e.Name == name && e != el {
			out = append(out, e)
		}
	})
	return out
}

// condition is what a retry condition expression asks for.
type condition struct {
	ranges  []statusRange
	reasons []string
}

type statusRange struct{ Min, Max int }

// parseCondition turns a retry condition of the common forms into status ranges and
// error reasons: comparisons of context.Response.StatusCode with a number (==, !=, <,
// <=, >, >=), context.Response == null and context.LastError.Reason == "NAME", joined
// with || and && and grouped with parentheses. Anything else is an error that the caller
// reports as a warning.
func parseCondition(s string) (condition, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@(") && strings.HasSuffix(s, ")") {
		s = s[2 : len(s)-1]
	} else if strings.HasPrefix(s, "@{") {
		return condition{}, errors.New("a multi-statement expression @{...} is not one of the forms read")
	}
	toks, err := lexCondition(s)
	if err != nil {
		return condition{}, err
	}
	p := &condParser{toks: toks}
	set, err := p.or(0)
	if err != nil {
		return condition{}, err
	}
	if p.pos != len(p.toks) {
		return condition{}, fmt.Errorf("unexpected %q", p.toks[p.pos])
	}
	var c condition
	for lo := 100; lo <= 599; lo++ {
		if !set.codes[lo-100] {
			continue
		}
		hi := lo
		for hi+1 <= 599 && set.codes[hi+1-100] {
			hi++
		}
		c.ranges = append(c.ranges, statusRange{lo, hi})
		lo = hi
	}
	for _, r := range model.ErrorReasons {
		if set.reasons[string(r)] {
			c.reasons = append(c.reasons, string(r))
		}
	}
	if len(c.ranges) == 0 && len(c.reasons) == 0 {
		return condition{}, errors.New("it matches no status code and no error")
	}
	return c, nil
}

// condSet is the set of outcomes a condition retries: status codes 100..599 and
// error reasons (for requests that got no response).
type condSet struct {
	codes   [500]bool
	reasons map[string]bool
}

func newSet() *condSet { return &condSet{reasons: map[string]bool{}} }

func lexCondition(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(s[i:], "||"), strings.HasPrefix(s[i:], "&&"),
			strings.HasPrefix(s[i:], "=="), strings.HasPrefix(s[i:], "!="),
			strings.HasPrefix(s[i:], "<="), strings.HasPrefix(s[i:], ">="),
			strings.HasPrefix(s[i:], "?."):
			toks = append(toks, s[i:i+2])
			i += 2
		case strings.ContainsRune("()<>.", rune(c)):
			toks = append(toks, s[i:i+1])
			i++
		case c == '"':
			end := strings.IndexByte(s[i+1:], '"')
			if end < 0 {
				return nil, errors.New("unterminated string")
			}
			toks = append(toks, s[i:i+end+2])
			i += end + 2
		case isIdent(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q", string(c))
		}
	}
	return toks, nil
}

type condParser struct {
	toks []string
	pos  int
}

func (p *condParser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *condParser) or(depth int) (*condSet, error) {
	if depth > 32 {
		return nil, errors.New("nested too deep")
	}
	set, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "||" {
		p.pos++
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		for i := range set.codes {
			set.codes[i] = set.codes[i] || r.codes[i]
		}
		for k := range r.reasons {
			set.reasons[k] = true
		}
	}
	return set, nil
}

func (p *condParser) and(depth int) (*condSet, error) {
	set, err := p.atom(depth)
	if err != nil {
		return nil, err
	}
	for p.peek() == "&&" {
		p.pos++
		r, err := p.atom(depth)
		if err != nil {
			return nil, err
		}
		if len(set.reasons)+len(r.reasons) > 0 {
			return nil, errors.New("&& with an error-reason test is not one of the forms read")
		}
		for i := range set.codes {
			set.codes[i] = set.codes[i] && r.codes[i]
		}
	}
	return set, nil
}

// path reads a dotted member path such as context.Response.StatusCode, with ?. allowed.
func (p *condParser) path() string {
	var parts []string
	for {
		t := p.peek()
		if t == "" || !isIdentStart(t[0]) {
			break
		}
		parts = append(parts, t)
		p.pos++
		if n := p.peek(); n == "." || n == "?." {
			p.pos++
			continue
		}
		break
	}
	return strings.Join(parts, ".")
}

func (p *condParser) atom(depth int) (*condSet, error) {
	if p.peek() == "(" {
		p.pos++
		set, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, errors.New("missing )")
		}
		p.pos++
		return set, nil
	}
	if p.peek() == "" {
		return nil, errors.New("a comparison is missing")
	}
	left := p.path()
	var num string
	if left == "" {
		// 500 <= context.Response.StatusCode
		num = p.peek()
		p.pos++
	}
	op := p.peek()
	switch op {
	case "==", "!=", "<", "<=", ">", ">=":
	default:
		what := left
		if what == "" {
			what = num
		}
		return nil, fmt.Errorf("%q is not compared with ==, !=, <, <=, > or >=", what)
	}
	p.pos++
	var right string
	if left == "" {
		right = p.path()
		op = flip(op)
	} else {
		right = p.peek()
		if right == "" {
			return nil, fmt.Errorf("%s %s: the value is missing", left, op)
		}
		p.pos++
	}
	subject := left
	if left == "" {
		subject, right = right, num
	}
	set := newSet()
	switch subject {
	case "context.Response.StatusCode":
		var n int
		if _, err := fmt.Sscanf(right, "%d", &n); err != nil || fmt.Sprint(n) != right {
			return nil, fmt.Errorf("StatusCode compared with %q, not a number", right)
		}
		for code := 100; code <= 599; code++ {
			set.codes[code-100] = compare(code, op, n)
		}
	case "context.Response":
		if right != "null" || op != "==" {
			return nil, errors.New("only context.Response == null is read (no response: the connection failed)")
		}
		set.reasons[string(model.BackendConnectionFailure)] = true
	case "context.LastError.Reason":
		r := strings.Trim(right, `"`)
		if op != "==" || !model.ErrorReason(r).Valid() {
			return nil, fmt.Errorf("only context.LastError.Reason == %s is read", reasonsText(`"`, " or "))
		}
		set.reasons[r] = true
	default:
		return nil, fmt.Errorf("%q is not one of the values read (context.Response.StatusCode, context.Response, context.LastError.Reason)", subject)
	}
	return set, nil
}

func flip(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

func compare(a int, op string, b int) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a >= b
}

// reasonsText lists model.ErrorReasons for messages, each quoted with q, joined by sep.
func reasonsText(q, sep string) string {
	out := make([]string, len(model.ErrorReasons))
	for i, r := range model.ErrorReasons {
		out[i] = q + string(r) + q
	}
	return strings.Join(out, sep)
}
