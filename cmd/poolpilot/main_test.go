package main

import (
	"bytes"
	"context"
	"os"
	"testing"
)

// runMainEnv makes the test binary act as poolpilot itself, so tests can start it as a
// child process and send it real signals without a separate go build.
const runMainEnv = "PP_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// runCLI runs poolpilot in-process with args and returns its output and exit code.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}
