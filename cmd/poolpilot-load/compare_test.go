package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets --compare baseline start this test binary as its baseline server, the
// way the command starts itself.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		if err := runBaseline(context.Background(), os.Args[2:], os.Stdout, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
			_, _ = os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A baseline that cannot load its model exits; compareConfig says so instead of waiting
// out its start-up bound.
func TestCompareBaselineThatExits(t *testing.T) {
	c := config{Compare: "baseline", Mutate: filepath.Join(t.TempDir(), "missing.yaml")}
	_, err := compareConfig(t.Context(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "exited before serving") {
		t.Fatalf("compareConfig with an unloadable model: %v, want the baseline's exit", err)
	}
}
