package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultStopTimeout is how long Stop waits after SIGTERM before SIGKILL.
const DefaultStopTimeout = 5 * time.Second

// tailLines is how many output lines a failing test logs per process.
const tailLines = 60

// Options describe a process to start.
type Options struct {
	// Bin is the executable (usually from Build).
	Bin string
	// Args are its arguments, without the program name.
	Args []string
	// Env entries ("K=V") are added to the test's environment; later
	// entries win over earlier ones and over the inherited environment.
	Env []string
	// Dir is the working directory; empty means the test's.
	Dir string
	// Name labels the process in logs and errors; default: Bin's base name.
	Name string
	// StopTimeout is the SIGTERM→SIGKILL grace period; default 5 s.
	StopTimeout time.Duration
}

// Process is a started child process in its own process group. Its stdout
// and stderr are captured line by line into one log (in arrival order).
type Process struct {
	name        string
	cmd         *exec.Cmd
	out         *output
	stopTimeout time.Duration

	exited  chan struct{} // closed once the process has exited (waitErr is set)
	done    chan struct{} // closed after exited, once its output is captured
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start starts opts.Bin in a new process group and registers a cleanup that
// stops it (SIGTERM to the group, SIGKILL after StopTimeout, then SIGKILL to
// whatever is left in the group) and, if the test failed, logs its output's
// tail. When ctx ends, the process is stopped the same way. A process that
// cannot start fails the test.
func Start(ctx context.Context, t testing.TB, opts Options) *Process {
	t.Helper()
	p, err := start(opts)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("harness: %v", err)
		}
		if t.Failed() {
			t.Logf("harness: %s (pid %d) output, last %d lines:\n%s", p.name, p.Pid(), tailLines, p.Tail(tailLines))
		}
	})
	go func() {
		select {
		case <-ctx.Done():
			_ = p.Stop()
		case <-p.done:
		}
	}()
	return p
}

func start(opts Options) (*Process, error) {
	if opts.Bin == "" {
		return nil, errors.New("start: Options.Bin is empty; want an executable path (see Build)")
	}
	name := opts.Name
	if name == "" {
		name = filepath.Base(opts.Bin)
	}
	stopTimeout := opts.StopTimeout
	if stopTimeout <= 0 {
		stopTimeout = DefaultStopTimeout
	}
	cmd := exec.Command(opts.Bin, opts.Args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Dir = opts.Dir
	cmd.SysProcAttr = sysProcAttr()
	// Our own pipes (not exec's copying goroutines), so Wait returns when the
	// process exits even if a grandchild still holds its stdout.
	out := newOutput()
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: pipe: %w", opts.Bin, err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeAll([]*os.File{stdoutR, stdoutW})
		return nil, fmt.Errorf("start %s: pipe: %w", opts.Bin, err)
	}
	readers := []*os.File{stdoutR, stderrR}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW
	err = cmd.Start()
	// The child has its own copies of the write ends; ours must go, or the
	// readers never see EOF.
	closeAll([]*os.File{stdoutW, stderrW})
	if err != nil {
		closeAll(readers)
		return nil, fmt.Errorf("start %s %q: %w", opts.Bin, opts.Args, err)
	}
	p := &Process{name: name, cmd: cmd, out: out, stopTimeout: stopTimeout,
		exited: make(chan struct{}), done: make(chan struct{})}
	var copies sync.WaitGroup
	for _, r := range readers {
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(out.writer(), r)
		}()
	}
	copied := make(chan struct{})
	go func() { copies.Wait(); close(copied) }()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
		// A grandchild that inherited stdout keeps the pipe open; give the
		// output a moment to drain, then stop reading.
		select {
		case <-copied:
		case <-time.After(outputDrainTimeout):
			closeAll(readers) // unblocks the copies
			<-copied
		}
		closeAll(readers)
		out.flush()
		close(p.done)
	}()
	return p, nil
}

// outputDrainTimeout bounds the wait for output after the process exited.
const outputDrainTimeout = 2 * time.Second

func closeAll(fs []*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}

// Name is the label used in logs and errors.
func (p *Process) Name() string { return p.name }

// Pid is the process id, which is also its process group id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and all its output is captured.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// ExitCode waits for the process to exit and returns its exit status; -1 if
// a signal ended it.
func (p *Process) ExitCode() int {
	<-p.exited
	return p.cmd.ProcessState.ExitCode()
}

// Stop ends the process group: SIGTERM, then SIGKILL if the process has not
// exited within StopTimeout, then SIGKILL to anything left in the group. It
// waits for the exit and is safe to call more than once. It returns an error
// only if the process had to be killed (it ignored SIGTERM for StopTimeout);
// a process that had already exited is not an error here — see ExitCode.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		pgid := p.Pid()
		if !p.Exited() {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-p.exited:
			case <-time.After(p.stopTimeout):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				p.stopErr = fmt.Errorf("%s (pid %d) did not exit within %v of SIGTERM; killed", p.name, pgid, p.stopTimeout)
			}
		}
		// Grandchildren that outlived the leader are still in its group.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done // SIGKILL cannot be ignored, and the output drain is bounded
	})
	return p.stopErr
}

// Kill sends SIGKILL to the process group at once (a crash, as in "poolpilot
// is killed") and waits for the exit. A later Stop does nothing more.
func (p *Process) Kill() {
	p.stopOnce.Do(func() {
		_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
		<-p.done
	})
}

// Output returns every captured line (up to the last 200,000), newline-joined.
func (p *Process) Output() string {
	lines, _ := p.out.snapshot(0)
	return strings.Join(lines, "\n")
}

// Tail returns the last n captured lines, newline-joined.
func (p *Process) Tail(n int) string {
	lines, _ := p.out.snapshot(0)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Mark returns a position in the output: WaitForLineAfter(Mark(), ...) only
// looks at lines that arrive after this call.
func (p *Process) Mark() int { return p.out.mark() }

// WaitForLine waits up to timeout for an output line (since the start)
// matching re and returns its submatches (FindStringSubmatch). It fails fast
// if the process exits first. Errors carry the output's tail.
func (p *Process) WaitForLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	return p.WaitForLineAfter(0, re, timeout)
}

// WaitForLineAfter is WaitForLine for lines after mark (see Mark).
func (p *Process) WaitForLineAfter(mark int, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	next := mark
	for {
		lines, changed, end := p.out.since(next)
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m, nil
			}
		}
		next = end
		select {
		case <-changed:
		case <-p.done:
			// All output is flushed before done closes: look once more.
			lines, _, _ := p.out.since(next)
			for _, l := range lines {
				if m := re.FindStringSubmatch(l); m != nil {
					return m, nil
				}
			}
			return nil, fmt.Errorf("%s (pid %d) exited (%v) before printing a line matching %q; last lines:\n%s",
				p.name, p.Pid(), p.waitErr, re, p.Tail(tailLines))
		case <-timer.C:
			return nil, fmt.Errorf("%s (pid %d): no line matching %q within %v; last lines:\n%s",
				p.name, p.Pid(), re, timeout, p.Tail(tailLines))
		}
	}
}

// RequireLine is WaitForLine that fails the test on error.
func (p *Process) RequireLine(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	m, err := p.WaitForLine(re, timeout)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	return m
}
