package main

import (
	"testing"
	"time"
)

func cpuLimited(script string, cpuMS int) map[string]any {
	b := shBundle(script)
	b["cpu_time_ms"] = cpuMS
	b["timeout_ms"] = 10000
	return b
}

func TestCPULimitStopsABusyLoop(t *testing.T) {
	o := runBundle(t, cpuLimited("while :; do :; done", 500), 65536)
	r := o.result(t, "run")
	expect(t, "cpu_time_exceeded", r["cpu_time_exceeded"], true)
	expect(t, "timed_out", r["timed_out"], false)
	expect(t, "signal", r["signal"], "SIGKILL")
	between(t, "cpu_time_ms", r, 450, 800)
	// About 1 s on an idle machine; the 10 s timeout is far.
	if o.elapsed > 3*time.Second {
		t.Errorf("took %v", o.elapsed)
	}
}

// TestCPULimitHoldsTheTree: four processes burning 0.3 s each stay under
// RLIMIT_CPU's 1 s apiece; only the sum over the tree catches them. As PID 1
// the killed burners are reaped and counted.
func TestCPULimitHoldsTheTree(t *testing.T) {
	needPython(t)
	prefix := pid1Prefix(t)
	script := burn(0.3) + " & " + burn(0.3) + " & " + burn(0.3) + " & " + burn(0.3) + "; wait; echo finished"
	o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, cpuLimited(script, 500))}, prefix)
	r := o.result(t, "run")
	expect(t, "cpu_time_exceeded", r["cpu_time_exceeded"], true)
	expect(t, "stdout", o.out("o"), "")
	between(t, "cpu_time_ms", r, 450, 1000)
}

// TestCPULimitSetsRlimit: RLIMIT_CPU is the limit rounded up to seconds, and
// a process it ends (SIGXCPU) went past the limit.
func TestCPULimitSetsRlimit(t *testing.T) {
	o := runBundle(t, cpuLimited("ulimit -t", 1500), 65536)
	expect(t, "ulimit -t", o.out("o"), "2\n")
	r := runBundle(t, cpuLimited("kill -XCPU $$", 1500), 65536).result(t, "run")
	expect(t, "signal", r["signal"], "SIGXCPU")
	expect(t, "cpu_time_exceeded", r["cpu_time_exceeded"], true)
}

func TestCPULimitSparesASleeper(t *testing.T) {
	o := runBundle(t, cpuLimited("sleep 1.2; echo slept", 500), 65536)
	r := o.result(t, "run")
	expect(t, "stdout", o.out("o"), "slept\n")
	expect(t, "cpu_time_exceeded", r["cpu_time_exceeded"], false)
	expect(t, "exit_code", r["exit_code"], 0)
}

func TestCompileCPULimit(t *testing.T) {
	b := shBundle("echo should-not-run")
	b["compile"] = map[string]any{"command": []string{"sh", "-c", "while :; do :; done"}, "cpu_time_ms": 300}
	o := runBundle(t, b, 65536)
	r := o.result(t, "compile")
	expect(t, "compile cpu_time_exceeded", r["cpu_time_exceeded"], true)
	expect(t, "frames", o.frames, []string{"r"})
}

func TestNoCPULimitByDefault(t *testing.T) {
	o := runBundle(t, shBundle("ulimit -t"), 65536)
	expect(t, "ulimit -t", o.out("o"), "unlimited\n")
}
