// Package redact hides the served model's secret values in free text: the NACK details
// the ADS core logs and keeps, and every error and warning the admin endpoints show.
package redact

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/poolpilot/poolpilot/model"
)

// Redactor replaces the served model's secret values in free text (an Envoy NACK can
// quote the resource it rejected, endpoint metadata included), in every form a client is
// likely to quote them: raw, escaped as Go (%q), JSON and C / protobuf text format
// (octal escapes, as Envoy prints a proto) do, and cut short.
type Redactor struct {
	// patterns are the escaped forms of every secret, longest first, so a value
	// containing another is replaced whole.
	patterns []string
}

const (
	// minRedactLen skips values so short that replacing them would shred ordinary text;
	// such a value is no real credential.
	minRedactLen = 4
	// MinPrefix: a run of at least this many bytes of a secret's form is redacted
	// even when the rest is missing (a client that truncated its message), so at most
	// MinPrefix-1 bytes of a secret can remain where a quote was cut.
	MinPrefix = 8
	// Mark replaces each redacted run.
	Mark = "[redacted]"
)

// New builds the redactor of m's credential values; a nil model redacts nothing.
func New(m *model.Model) Redactor {
	var r Redactor
	if m == nil {
		return r
	}
	seen := map[string]bool{}
	for _, b := range m.Backends {
		if b == nil || b.Credentials == nil {
			continue
		}
		for _, s := range b.Credentials.Header {
			v := s.Reveal()
			if len(v) < minRedactLen {
				continue
			}
			for _, f := range Forms(v) {
				if len(f) >= minRedactLen && !seen[f] {
					seen[f] = true
					r.patterns = append(r.patterns, f)
				}
			}
		}
	}
	sort.Slice(r.patterns, func(i, j int) bool { return len(r.patterns[i]) > len(r.patterns[j]) })
	return r
}

// Forms are the ways v can appear in a client's text.
func Forms(v string) []string {
	unquote := func(q string) string { return q[1 : len(q)-1] }
	forms := []string{v, unquote(strconv.Quote(v)), unquote(strconv.QuoteToASCII(v)), CEscape(v)}
	if j, err := json.Marshal(v); err == nil {
		forms = append(forms, unquote(string(j)))
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) == nil {
		forms = append(forms, unquote(strings.TrimSuffix(b.String(), "\n")))
	}
	// The same, escaped twice: a message quoting a message (a JSON log line in a NACK).
	forms = append(forms, unquote(strconv.Quote(unquote(strconv.Quote(v)))), CEscape(CEscape(v)))
	return forms
}

// CEscape escapes s as C and protobuf's text format do (absl::CEscape, used by Envoy's
// proto printing): \n \r \t \" \' \\, other bytes outside printable ASCII as \ooo.
func CEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '"', '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			if c < 0x20 || c >= 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

// Text replaces every form of every secret in s, whole or cut (MinPrefix).
func (r Redactor) Text(s string) string {
	for _, p := range r.patterns {
		s = redactPattern(s, p)
	}
	return s
}

// redactPattern replaces each run of s that matches p from its start for at least
// min(len(p), MinPrefix) bytes.
func redactPattern(s, p string) string {
	key := p[:min(len(p), MinPrefix)]
	if !strings.Contains(s, key) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, key)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := len(key)
		for j < len(p) && i+j < len(s) && s[i+j] == p[j] {
			j++
		}
		b.WriteString(s[:i])
		b.WriteString(Mark)
		s = s[i+j:]
	}
}

// Lines is Text of each line; an empty slice is returned as is.
func (r Redactor) Lines(in []string) []string {
	if len(in) == 0 {
		return in
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = r.Text(s)
	}
	return out
}
