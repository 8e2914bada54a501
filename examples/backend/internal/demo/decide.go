package demo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
)

// maxBodyBytes bounds what the HTTP handler reads: the scenario's body is a few
// hundred bytes, and a demo must not buffer arbitrary uploads.
const maxBodyBytes = 1 << 20

// Entry is one element of the scenario's request body:
// [{"functionApp": "<name>", "respondsWithResultCode": 503}, ...].
type Entry struct {
	FunctionApp            string `json:"functionApp"`
	RespondsWithResultCode *int   `json:"respondsWithResultCode"`
}

// StatusFromBody decides the HTTP status a backend called name answers for
// body. An empty body, a JSON null, or an array without an entry for name
// gives 200. The first entry whose functionApp equals name (case-insensitively,
// as Function App host names are) decides; an entry without a code gives 200.
// A body that is not a JSON array of entries, or a code outside 200–599, is an
// error (the handler answers 400 and says why).
func StatusFromBody(body []byte, name string) (int, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return 200, nil
	}
	var entries []Entry
	if err := json.Unmarshal(body, &entries); err != nil {
		return 0, fmt.Errorf(`request body: want a JSON array like [{"functionApp": %q, "respondsWithResultCode": 503}]: %v`, name, err)
	}
	for i, e := range entries {
		if !strings.EqualFold(e.FunctionApp, name) {
			continue
		}
		if e.RespondsWithResultCode == nil {
			return 200, nil
		}
		code := *e.RespondsWithResultCode
		if code < 200 || code > 599 {
			return 0, fmt.Errorf("request body: entry %d (functionApp %q): respondsWithResultCode %d is outside 200–599", i, e.FunctionApp, code)
		}
		return code, nil
	}
	return 200, nil
}

// GRPCCodeForHTTP maps the HTTP status a failing backend answers to the gRPC
// code its gRPC side answers. It follows gRPC's HTTP-to-gRPC mapping
// (doc/http-grpc-status-mapping.md, which Envoy also uses), except that 500 is
// INTERNAL and 501 UNIMPLEMENTED, so a "500" switch reads as a server error
// rather than UNKNOWN.
func GRPCCodeForHTTP(status int) codes.Code {
	switch {
	case status >= 200 && status <= 299:
		return codes.OK
	case status == 400:
		return codes.Internal
	case status == 401:
		return codes.Unauthenticated
	case status == 403:
		return codes.PermissionDenied
	case status == 404:
		return codes.Unimplemented
	case status == 429, status == 502, status == 503, status == 504:
		return codes.Unavailable
	case status == 500:
		return codes.Internal
	case status == 501:
		return codes.Unimplemented
	default:
		return codes.Unknown
	}
}

// ParseGRPCCode accepts a gRPC status code as a number (14) or a name
// (UNAVAILABLE, unavailable). OK is refused: a failure switch must fail.
func ParseGRPCCode(s string) (codes.Code, error) {
	var c codes.Code
	raw := strings.TrimSpace(s)
	if _, err := strconv.ParseUint(raw, 10, 32); err != nil {
		raw = strconv.Quote(strings.ToUpper(raw))
	}
	if err := c.UnmarshalJSON([]byte(raw)); err != nil {
		return 0, fmt.Errorf("grpc-code %q: want a gRPC status code 1–16 or its name (e.g. 14 or UNAVAILABLE)", s)
	}
	if c == codes.OK {
		return 0, fmt.Errorf("grpc-code %q: OK is not a failure; want 1–16 (e.g. 14 or UNAVAILABLE)", s)
	}
	return c, nil
}
