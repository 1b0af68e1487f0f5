//go:build !amd64 && !arm64

package main

import "syscall"

// No filter is known for this architecture: a bundle asking for one fails
// (fail closed) in seccompProgram.
const (
	auditArch      = 0
	hasX32         = false
	sysSeccomp     = 0
	sysClone       = 0
	sysPersonality = 0
)

var deniedSyscalls []struct {
	nr    uint32
	errno syscall.Errno
}
