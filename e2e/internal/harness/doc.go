// Package harness runs real processes for poolpilot's end-to-end tests: it
// builds Go binaries once per test run, starts them in their own process
// group on 127.0.0.1, captures their output, waits for log lines, and leaves
// no process behind. It also starts the demo backend (examples/backend) and
// drives its admin switch.
//
// Use it from a test package like this:
//
//	func TestMain(m *testing.M) { harness.Main(m) } // removes the built binaries afterwards
//
//	func TestFailover(t *testing.T) {
//		ctx := t.Context()
//		a := harness.StartBackend(ctx, t, harness.BackendOptions{Name: "func-a", Region: "swedencentral"})
//		bin := harness.Build(t, "./cmd/poolpilot")
//		p := harness.Start(ctx, t, harness.Options{Bin: bin, Args: []string{"serve", "..."}})
//		p.RequireLine(t, regexp.MustCompile(`msg="?serving`), 30*time.Second)
//		if _, err := a.Admin.Fail(ctx, 503); err != nil { t.Fatal(err) }
//		...
//	}
//
// The process helpers are for Unix (process groups); the e2e tests run on Linux.
package harness
