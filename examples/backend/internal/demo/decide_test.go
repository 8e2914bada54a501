package demo

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func TestStatusFromBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    int
		wantErr string
	}{
		{name: "empty", body: "", want: 200},
		{name: "whitespace", body: " \n", want: 200},
		{name: "null", body: "null", want: 200},
		{name: "empty array", body: "[]", want: 200},
		{name: "own entry", body: `[{"functionApp":"func-a","respondsWithResultCode":503}]`, want: 503},
		{name: "own entry case-insensitive", body: `[{"functionApp":"FUNC-A","respondsWithResultCode":502}]`, want: 502},
		{name: "other entry only", body: `[{"functionApp":"func-b","respondsWithResultCode":503}]`, want: 200},
		{name: "scenario body", body: `[{"functionApp":"func-b","respondsWithResultCode":200},{"functionApp":"func-a","respondsWithResultCode":504}]`, want: 504},
		{name: "first own entry wins", body: `[{"functionApp":"func-a","respondsWithResultCode":500},{"functionApp":"func-a","respondsWithResultCode":200}]`, want: 500},
		{name: "own entry without code", body: `[{"functionApp":"func-a"}]`, want: 200},
		{name: "unknown fields ignored", body: `[{"functionApp":"func-a","respondsWithResultCode":429,"note":"x"}]`, want: 429},
		{name: "invalid JSON", body: `[{`, wantErr: `request body: want a JSON array like [{"functionApp": "func-a", "respondsWithResultCode": 503}]: unexpected end of JSON input`},
		{name: "object not array", body: `{"functionApp":"func-a"}`, wantErr: "request body: want a JSON array like"},
		{name: "code as string", body: `[{"functionApp":"func-a","respondsWithResultCode":"503"}]`, wantErr: "request body: want a JSON array like"},
		{name: "code out of range", body: `[{"functionApp":"x"},{"functionApp":"func-a","respondsWithResultCode":99}]`, wantErr: `request body: entry 1 (functionApp "func-a"): respondsWithResultCode 99 is outside 200–599`},
		{name: "code too high", body: `[{"functionApp":"func-a","respondsWithResultCode":600}]`, wantErr: "respondsWithResultCode 600 is outside 200–599"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := StatusFromBody([]byte(tc.body), "func-a")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("StatusFromBody(%q) error = %v, want containing %q", tc.body, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("StatusFromBody(%q) = %d, %v; want %d, nil", tc.body, got, err, tc.want)
			}
		})
	}
}

func TestGRPCCodeForHTTP(t *testing.T) {
	for status, want := range map[int]codes.Code{
		200: codes.OK, 400: codes.Internal, 401: codes.Unauthenticated, 403: codes.PermissionDenied,
		404: codes.Unimplemented, 429: codes.Unavailable, 500: codes.Internal, 501: codes.Unimplemented,
		502: codes.Unavailable, 503: codes.Unavailable, 504: codes.Unavailable, 418: codes.Unknown, 599: codes.Unknown,
	} {
		if got := GRPCCodeForHTTP(status); got != want {
			t.Errorf("GRPCCodeForHTTP(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestParseGRPCCode(t *testing.T) {
	for in, want := range map[string]codes.Code{"14": codes.Unavailable, "UNAVAILABLE": codes.Unavailable, "unavailable": codes.Unavailable, "13": codes.Internal, "deadline_exceeded": codes.DeadlineExceeded} {
		got, err := ParseGRPCCode(in)
		if err != nil || got != want {
			t.Errorf("ParseGRPCCode(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, wantErr := range map[string]string{
		"0":        `grpc-code "0": OK is not a failure`,
		"OK":       `grpc-code "OK": OK is not a failure`,
		"17":       `grpc-code "17": want a gRPC status code 1–16 or its name`,
		"nonsense": `grpc-code "nonsense": want a gRPC status code 1–16 or its name`,
	} {
		if _, err := ParseGRPCCode(in); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseGRPCCode(%q) error = %v, want containing %q", in, err, wantErr)
		}
	}
}
