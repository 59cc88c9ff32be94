//go:build !linux

package testenv

import "os/exec"

// setPdeathsig does nothing where the OS cannot kill children with their
// parent; the shared servers then rely on Cleanup.
func setPdeathsig(*exec.Cmd) {}
