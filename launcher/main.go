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
	os.Exit(launch())
}

func launch() int {
	asInit := os.Getpid() == 1
	if asInit {
		absorbSignals()
	}
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
	if b.Compile != nil {
		c := b.Compile
		res := rn.run(stage{"compile", "c", c.Command, nil, millis(c.TimeoutMS), c.MemoryBytes, b.OutputLimit})
		if err := rn.frames.result(res); err != nil || !res.ok() {
			return res.exitStatus()
		}
	}
	res := rn.run(stage{"run", "", b.Command, stdin, millis(b.TimeoutMS), b.MemoryBytes, b.OutputLimit})
	if err := rn.frames.result(res); err != nil {
		fmt.Fprintf(os.Stderr, "isobox-launch: writing result: %v\n", err)
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
