package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{"BACKEND_NAME": "func-env", "BACKEND_REGION": "norwayeast", "BACKEND_HTTP_ADDRESS": "0.0.0.0:8080"}
	getenv := func(k string) string { return env[k] }

	cfg, level, err := parseFlags([]string{"--region", "swedencentral", "--log-level", "debug"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Flags win over the environment; the environment wins over defaults.
	if cfg.Name != "func-env" || cfg.Region != "swedencentral" || cfg.HTTPAddress != "0.0.0.0:8080" ||
		cfg.GRPCAddress != "127.0.0.1:8081" || cfg.AdminAddress != "127.0.0.1:8082" ||
		cfg.CredentialHeader != "x-functions-key" || level != slog.LevelDebug {
		t.Errorf("parseFlags = %+v level %v", cfg, level)
	}

	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{nil, "--name (or BACKEND_NAME) is required"},
		{[]string{"--name", "a", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"--name", "a", "--log-level", "loud"}, `--log-level "loud": want debug, info, warn or error`},
		{[]string{"--nope"}, "flag provided but not defined: -nope"},
	} {
		_, _, err := parseFlags(tc.args, func(string) string { return "" }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("parseFlags(%q) = %v, want error containing %q", tc.args, err, tc.wantErr)
		}
	}
}
