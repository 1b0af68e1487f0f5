package main

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"
)

// The seccomp filter is isobox's own narrow kernel surface for the program,
// the same on every backend: docs/design.md lists what it denies and why.
// Everything not denied is allowed; Docker's default profile (an allow list)
// still applies on top where the backend has it.

// Classic BPF, as seccomp runs it (linux/filter.h, linux/seccomp.h).
const (
	bpfLD   = 0x00
	bpfW    = 0x00
	bpfABS  = 0x20
	bpfJMP  = 0x05
	bpfJEQ  = 0x10
	bpfJSET = 0x40
	bpfK    = 0x00
	bpfRET  = 0x06

	retAllow = 0x7fff0000
	retErrno = 0x00050000

	// Offsets in struct seccomp_data; args are little-endian u64s, of which
	// only the low half is looked at (clone's flags and personality's
	// persona are 32-bit to the kernel).
	offNr    = 0
	offArch  = 4
	offArg0  = 16
	x32Bit   = 0x40000000 // __X32_SYSCALL_BIT
	cloneNew = 0x7e020000 // CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET

	seccompSetModeFilter = 1
	seccompFlagTsync     = 1
	prSetNoNewPrivs      = 38
)

// allowedPersonas are the personality(2) arguments Docker's profile allows:
// PER_LINUX, PER_LINUX32, UNAME26 (and with PER_LINUX32), and the query.
var allowedPersonas = []uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

type sockFilter struct {
	code uint16
	jt   uint8
	jf   uint8
	k    uint32
}

type sockFprog struct {
	len    uint16
	filter *sockFilter
}

func stmt(code uint16, k uint32) sockFilter { return sockFilter{code: code, k: k} }

func jump(code uint16, k uint32, jt, jf uint8) sockFilter {
	return sockFilter{code: code, jt: jt, jf: jf, k: k}
}

func errnoRet(e syscall.Errno) sockFilter { return stmt(bpfRET|bpfK, retErrno|uint32(e)) }

// seccompProgram builds the filter for the running architecture.
func seccompProgram() ([]sockFilter, error) {
	if auditArch == 0 {
		return nil, errors.New("no seccomp filter for this architecture")
	}
	prog := []sockFilter{
		// Another ABI (i386 through int 0x80 on x86-64, or x32) numbers
		// system calls differently: none of it is allowed.
		stmt(bpfLD|bpfW|bpfABS, offArch),
		jump(bpfJMP|bpfJEQ|bpfK, auditArch, 1, 0),
		errnoRet(syscall.ENOSYS),
		stmt(bpfLD|bpfW|bpfABS, offNr),
	}
	if hasX32 {
		prog = append(prog, jump(bpfJMP|bpfJSET|bpfK, x32Bit, 0, 1), errnoRet(syscall.ENOSYS))
	}
	for _, d := range deniedSyscalls {
		prog = append(prog, jump(bpfJMP|bpfJEQ|bpfK, d.nr, 0, 1), errnoRet(d.errno))
	}
	prog = append(prog, cloneRule()...)
	prog = append(prog, personalityRule()...)
	return append(prog, stmt(bpfRET|bpfK, retAllow)), nil
}

// cloneRule denies clone with any CLONE_NEW* flag; it ends the program for
// clone, and leaves the syscall number in A for anything else.
func cloneRule() []sockFilter {
	return []sockFilter{
		jump(bpfJMP|bpfJEQ|bpfK, sysClone, 0, 4),
		stmt(bpfLD|bpfW|bpfABS, offArg0),
		jump(bpfJMP|bpfJSET|bpfK, cloneNew, 0, 1),
		errnoRet(syscall.EPERM),
		stmt(bpfRET|bpfK, retAllow),
	}
}

// personalityRule allows only allowedPersonas; like cloneRule it ends the
// program for its own syscall.
func personalityRule() []sockFilter {
	n := len(allowedPersonas)
	rule := []sockFilter{
		jump(bpfJMP|bpfJEQ|bpfK, sysPersonality, 0, uint8(n+3)),
		stmt(bpfLD|bpfW|bpfABS, offArg0),
	}
	for i, p := range allowedPersonas {
		rule = append(rule, jump(bpfJMP|bpfJEQ|bpfK, p, uint8(n-i), 0)) // to the allow
	}
	return append(rule, errnoRet(syscall.EPERM), stmt(bpfRET|bpfK, retAllow))
}

// installSeccomp sets no_new_privs (required to install a filter without
// CAP_SYS_ADMIN, and kept by the program: no set-uid gains) and the filter,
// on every thread of the process.
func installSeccomp() error {
	prog, err := seccompProgram()
	if err != nil {
		return err
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetNoNewPrivs, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("no_new_privs: %w", e)
	}
	fprog := sockFprog{len: uint16(len(prog)), filter: &prog[0]}
	_, _, e := syscall.RawSyscall(sysSeccomp, seccompSetModeFilter, seccompFlagTsync, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp: %w", e)
	}
	return nil
}
