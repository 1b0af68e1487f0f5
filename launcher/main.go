// Command isobox-launch is the entrypoint of every isobox runtime image. It
// reads a bundle from ISOBOX_BUNDLE_* env variables (or, in a warm sandbox,
// from stdin), writes the files, runs
// the optional compile stage and the command, and reports their output and
// result as line frames on stdout. The protocol is fixed in docs/design.md.
package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"time"
)

// exitLauncherError is the exit code when the launcher itself fails (bad
// bundle, unwritable file); no r frame is printed then.
const exitLauncherError = 125

func main() {
	if len(os.Args) > 1 && os.Args[1] == preExecArg {
		os.Exit(preExec(os.Args[2:]))
	}
	os.Exit(launch())
}

func launch() int {
	asInit := os.Getpid() == 1
	if asInit {
		absorbSignals()
	}
	reserveThreads(reservedThreads)
	makeUndumpable()
	b, err := loadBundle()
	if err != nil {
		return fail(err)
	}
	if err := awaitIsolation(b.IsolationProbes, millis(b.IsolationWaitMS)); err != nil {
		return fail(err)
	}
	if err := writeFiles(b.Workdir, b.Files); err != nil {
		return fail(err)
	}
	stdin, _ := b.stdin() // validated by decodeBundle
	rn := &runner{
		workdir: b.Workdir,
		env:     b.Env,
		frames:  &frameWriter{w: os.Stdout},
		reaper:  newReaper(asInit),
		stop:    stopSignals(asInit),
	}
	seccomp := b.Seccomp == nil || *b.Seccomp
	if b.Compile != nil {
		c := b.Compile
		res := rn.run(stage{name: "compile", prefix: "c", argv: c.Command, timeout: millis(c.TimeoutMS),
			memory: c.MemoryBytes, limit: b.OutputLimit, cpu: millis(c.CPUTimeMS),
			restrict: restrictions{cpuSeconds: ceilSeconds(c.CPUTimeMS), seccomp: seccomp}})
		if err := rn.frames.result(res); err != nil || !res.ok() {
			return res.exitStatus()
		}
	}
	run := stage{name: "run", argv: b.Command, stdin: stdin, timeout: millis(b.TimeoutMS),
		memory: b.MemoryBytes, limit: b.OutputLimit, cpu: millis(b.CPUTimeMS),
		restrict: restrictions{cpuSeconds: ceilSeconds(b.CPUTimeMS), nproc: uint64(b.MaxProcesses), seccomp: seccomp}}
	if len(b.Cases) > 0 {
		status, err := rn.runCases(b, run)
		if err != nil {
			return fail(err)
		}
		return status
	}
	res := rn.run(run)
	if err := rn.frames.result(res); err != nil {
		fmt.Fprintf(os.Stderr, "isobox-launch: writing result: %v\n", err)
	}
	// After the r frame: a reader that stops early (a log cut at its cap) loses files, not
	// the run's report.
	if b.Outputs != nil {
		collectOutputs(rn.frames, b.Workdir, b.Outputs)
	}
	return res.exitStatus()
}

// fail reports a launcher failure on stderr and, as an "x" frame, on stdout, where a
// merged log (Kubernetes) still tells it apart from the program's output.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "isobox-launch: %v\n", err)
	fmt.Fprintf(os.Stdout, "x %s\n", base64.StdEncoding.EncodeToString([]byte(err.Error())))
	return exitLauncherError
}

func millis(ms int64) time.Duration {
	return time.Duration(ms) * time.Millisecond
}

// ceilSeconds rounds a CPU limit up to RLIMIT_CPU's whole seconds (0: none).
func ceilSeconds(ms int64) uint64 {
	return uint64((ms + 999) / 1000)
}
