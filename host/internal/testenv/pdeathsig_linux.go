package testenv

import (
	"os/exec"
	"syscall"
)

// setPdeathsig asks Linux to kill the server when the test binary dies, so a
// crashed test or a missing Cleanup leaves no memcached behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
