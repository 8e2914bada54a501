package adstest

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/poolpilot/poolpilot/xds/redact"
)

// HostileSecret has every character the escapes treat differently: a quote, a backslash
// and a non-ASCII letter.
const HostileSecret = `S3cr"et\key-é-0123456789`

// QuotedForms are the ways a client can quote secret in a NACK, by name: whole, escaped
// as Go, JSON and protobuf text do (once or twice), and cut.
func QuotedForms(secret string) map[string]string {
	j, _ := json.Marshal(secret)
	q := strconv.Quote(secret)
	return map[string]string{
		"raw":        secret,
		"go %q":      q[1 : len(q)-1],
		"ascii %+q":  strings.Trim(strconv.QuoteToASCII(secret), `"`),
		"json":       string(j[1 : len(j)-1]),
		"c octal":    redact.CEscape(secret),
		"cut raw":    secret[:12],
		"cut octal":  redact.CEscape(secret)[:14],
		"twice %q":   strings.Trim(strconv.Quote(q), `"`),
		"json in %q": strings.Trim(strconv.Quote(string(j)), `"`),
	}
}
