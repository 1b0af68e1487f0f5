package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// The launcher applies per-program restrictions (RLIMIT_CPU, RLIMIT_NPROC,
// the seccomp filter) in the program's own process, between fork and exec,
// never in itself: a lowered RLIMIT_NPROC would make the Go runtime's next
// thread creation fatal, and a filter would hold the launcher too. Go's
// ForkExec runs no code there, so the child first executes the launcher again
// ("/proc/self/exe", resolved by the child before its exec: the launcher's own
// binary) in this hidden mode, which restricts itself and then executes the
// program in the same process.
const preExecArg = "--isobox-pre-exec"

// restrictions are what the pre-exec helper applies to the program.
type restrictions struct {
	cpuSeconds uint64 // RLIMIT_CPU soft limit; 0: none
	nproc      uint64 // RLIMIT_NPROC; 0: none
	seccomp    bool
}

func (r restrictions) any() bool {
	return r.cpuSeconds > 0 || r.nproc > 0 || r.seccomp
}

// preExecArgv is the helper's argv: the restrictions, then path and argv of
// the program.
func (r restrictions) preExecArgv(path string, argv []string) []string {
	head := []string{"isobox-launch", preExecArg,
		strconv.FormatUint(r.cpuSeconds, 10), strconv.FormatUint(r.nproc, 10), strconv.FormatBool(r.seccomp), path}
	return append(head, argv...)
}

// preExec is the helper's main: args follow preExecArg. It only returns if
// the program could not be started, like a shell, with 127 and the reason on
// stderr (the stage's stderr stream).
func preExec(args []string) int {
	// Thread-scoped state (no_new_privs, the filter) must be set on the
	// thread that executes the program.
	runtime.LockOSThread()
	r, path, argv, err := parsePreExec(args)
	if err == nil {
		err = r.apply()
	}
	if err == nil {
		err = syscall.Exec(path, argv, os.Environ())
	}
	name := path
	if len(argv) > 0 {
		name = argv[0]
	}
	fmt.Fprintf(os.Stderr, "isobox-launch: cannot start %s: %v\n", name, err)
	return exitStartFailed
}

func parsePreExec(args []string) (r restrictions, path string, argv []string, err error) {
	if len(args) < 5 {
		return r, "", nil, fmt.Errorf("pre-exec: %d arguments", len(args))
	}
	if r.cpuSeconds, err = strconv.ParseUint(args[0], 10, 64); err != nil {
		return
	}
	if r.nproc, err = strconv.ParseUint(args[1], 10, 64); err != nil {
		return
	}
	if r.seccomp, err = strconv.ParseBool(args[2]); err != nil {
		return
	}
	return r, args[3], args[4:], nil
}

// apply restricts the calling process (and the calling thread, for seccomp).
func (r restrictions) apply() error {
	if r.cpuSeconds > 0 {
		// The hard limit one second later: SIGXCPU first, SIGKILL if caught.
		lim := syscall.Rlimit{Cur: r.cpuSeconds, Max: r.cpuSeconds + 1}
		if err := syscall.Setrlimit(syscall.RLIMIT_CPU, &lim); err != nil {
			return fmt.Errorf("RLIMIT_CPU: %w", err)
		}
	}
	if r.nproc > 0 {
		lim := syscall.Rlimit{Cur: r.nproc, Max: r.nproc}
		if err := syscall.Setrlimit(rlimitNproc, &lim); err != nil {
			return fmt.Errorf("RLIMIT_NPROC: %w", err)
		}
	}
	if r.seccomp {
		return installSeccomp()
	}
	return nil
}

// rlimitNproc is RLIMIT_NPROC, which package syscall does not name.
const rlimitNproc = 6
