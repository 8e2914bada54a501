package harness

import "syscall"

// sysProcAttr puts the child in its own process group (so Stop can signal
// everything it started) and asks the kernel to kill it if the test binary
// dies without cleaning up (a panic, a go test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
