package apim

import (
	"bytes"
	"regexp"
)

// escapeExpressions makes an APIM policy document well-formed XML. APIM accepts policy
// expressions (@(...) and @{...}) written without XML escaping, e.g.
// condition="@(context.Response.StatusCode >= 500 && context.Response.StatusCode < 600)"
// (the "rawxml" policy format of the REST API and ARM templates): inside each
// expression, &, < and the attribute's own quote character are escaped. Nothing else
// changes, and no line break is added, so XML line numbers stay those of the input.
func escapeExpressions(data []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(data))
	const (
		text = iota
		tag
		attr
	)
	state, delim := text, byte(0)
	for i := 0; i < len(data); {
		c := data[i]
		switch state {
		case text:
			switch {
			case bytes.HasPrefix(data[i:], []byte("<!--")):
				var closed bool
				if i, closed = copyThrough(&out, data, i, "-->"); !closed {
					return out.Bytes()
				}
				continue
			case bytes.HasPrefix(data[i:], []byte("<![CDATA[")):
				var closed bool
				if i, closed = copyThrough(&out, data, i, "]]>"); !closed {
					return out.Bytes()
				}
				continue
			case c == '<':
				state = tag
			case isExprStart(data, i):
				i = writeExpr(&out, data, i, 0)
				continue
			}
		case tag:
			switch c {
			case '"', '\'':
				state, delim = attr, c
			case '>':
				state = text
			}
		case attr:
			switch {
			case c == delim:
				state = tag
			case isExprStart(data, i):
				i = writeExpr(&out, data, i, delim)
				continue
			}
		}
		out.WriteByte(c)
		i++
	}
	return out.Bytes()
}

// copyThrough copies data from i through the first closer, unchanged, and returns the
// index after it; without a closer it copies the rest and reports false.
func copyThrough(out *bytes.Buffer, data []byte, i int, closer string) (int, bool) {
	end := bytes.Index(data[i:], []byte(closer))
	if end < 0 {
		out.Write(data[i:])
		return len(data), false
	}
	out.Write(data[i : i+end+len(closer)])
	return i + end + len(closer), true
}

func isExprStart(data []byte, i int) bool {
	return data[i] == '@' && i+1 < len(data) && (data[i+1] == '(' || data[i+1] == '{')
}

// writeExpr writes the expression starting at data[i] ("@(" or "@{") escaped, and
// returns the index after it. An unbalanced expression is written as it is: the XML
// parser then reports where the document breaks.
func writeExpr(out *bytes.Buffer, data []byte, i int, delim byte) int {
	open := data[i+1]
	closing := byte(')')
	if open == '{' {
		closing = '}'
	}
	depth := 0
	end := -1
	for j := i + 1; j < len(data) && end < 0; j++ {
		switch c := data[j]; c {
		case open:
			depth++
		case closing:
			depth--
			if depth == 0 {
				end = j
			}
		case '"', '\'':
			// A C# string or char literal: skip to its end, honouring backslash escapes.
			for j++; j < len(data) && data[j] != c; j++ {
				if data[j] == '\\' {
					j++
				}
			}
		}
	}
	if end < 0 {
		out.WriteByte(data[i])
		return i + 1
	}
	for k, c := range data[i : end+1] {
		switch {
		case c == '&' && isEntity(data[i+k:]):
			// Already escaped, as an XML editor writes it.
			out.WriteByte(c)
		case c == '&':
			out.WriteString("&amp;")
		case c == '<':
			out.WriteString("&lt;")
		case c == delim && c == '"':
			out.WriteString("&quot;")
		case c == delim && c == '\'':
			out.WriteString("&apos;")
		default:
			out.WriteByte(c)
		}
	}
	return end + 1
}

var entityRE = regexp.MustCompile(`^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);`)

func isEntity(b []byte) bool { return entityRE.Match(b) }
