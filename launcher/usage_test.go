package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"
)

// burn is a python3 program using about sec seconds of CPU, then exiting.
func burn(sec float64) string {
	return fmt.Sprintf(`python3 -c 'import time
while time.process_time() < %g: pass'`, sec)
}

// hold is a python3 program touching mib MiB and holding them for a while.
func hold(mib int) string {
	return fmt.Sprintf(`python3 -c 'import time; b = b"x" * (%d << 20); time.sleep(0.4)'`, mib)
}

func needPython(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3")
	}
}

func between(t *testing.T, what string, r map[string]any, low, high float64) {
	t.Helper()
	v, ok := r[what].(float64)
	if !ok || v < low || v > high {
		t.Errorf("%s = %v, want %v..%v", what, r[what], low, high)
	}
}

func TestUsageCPU(t *testing.T) {
	needPython(t)
	r := runBundle(t, shBundle(burn(0.3)), 65536).result(t, "run")
	between(t, "cpu_time_ms", r, 250, 450)
	r = runBundle(t, shBundle("sleep 1"), 65536).result(t, "run")
	between(t, "cpu_time_ms", r, 0, 50)
}

// TestUsageCPUOfOrphansAsPID1: a child and an orphaned grandchild (double
// fork) burn 0.15 s each; the orphan is only counted if the launcher reaps it
// before it measures.
func TestUsageCPUOfOrphansAsPID1(t *testing.T) {
	needPython(t)
	prefix := pid1Prefix(t)
	b := shBundle(burn(0.15) + " & (" + burn(0.15) + " &); wait; sleep 0.5")
	o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
	between(t, "cpu_time_ms", o.result(t, "run"), 250, 450)
}

// TestUsageCPUOfLeftoversAsPID1: a process still burning when the main
// process exits is killed, reaped and counted.
func TestUsageCPUOfLeftoversAsPID1(t *testing.T) {
	needPython(t)
	prefix := pid1Prefix(t)
	b := shBundle("(" + burn(10) + " &); sleep 0.5")
	o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
	// Up to 0.5 s of CPU (less on a busy machine): well above nothing.
	between(t, "cpu_time_ms", o.result(t, "run"), 100, 550)
}

func TestUsageMemoryPeak(t *testing.T) {
	needPython(t)
	r := runBundle(t, shBundle(hold(100)), 65536).result(t, "run")
	between(t, "memory_peak_kib", r, 95<<10, 130<<10)
	// Two processes holding 50 MiB at once: no single one ever had 100 MiB,
	// only the sampled sum over the tree has.
	r = runBundle(t, shBundle(hold(50)+" & "+hold(50)+"; wait"), 65536).result(t, "run")
	between(t, "memory_peak_kib", r, 95<<10, 140<<10)
}

// TestUsageMemoryPeakExcludesTheLauncher: the kernel puts the launcher's own
// peak (here some 50 MiB, from a big bundle on stdin) in its child's
// ru_maxrss; it must neither show in memory_peak_kib nor count against a
// stage's limit.
func TestUsageMemoryPeakExcludesTheLauncher(t *testing.T) {
	big := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 7<<20))
	for _, script := range []string{"true", "sleep 0.1"} {
		t.Run(script, func(t *testing.T) {
			b := shBundle(script)
			b["files"] = []map[string]string{{"path": "big", "content_b64": big}}
			b["memory_bytes"] = 32 << 20
			w := startWarm(t)
			w.firstLine(t)
			go io.WriteString(w.stdin, encodeBundle(t, b)+"\n")
			r := w.finish(t).result(t, "run")
			between(t, "memory_peak_kib", r, 0, helperPeakKiB())
			expect(t, "oom_killed", r["oom_killed"], false)
		})
	}
}

func TestUsagePerStage(t *testing.T) {
	needPython(t)
	b := shBundle("sleep 0.2")
	b["compile"] = map[string]any{"command": []string{"sh", "-c", burn(0.3) + "; " + hold(100)}}
	o := runBundle(t, b, 65536)
	between(t, "cpu_time_ms", o.result(t, "compile"), 250, 900) // the burn, plus making 100 MiB
	between(t, "memory_peak_kib", o.result(t, "compile"), 95<<10, 130<<10)
	// The run stage's own figures, not the compile stage's again.
	between(t, "cpu_time_ms", o.result(t, "run"), 0, 50)
	between(t, "memory_peak_kib", o.result(t, "run"), 0, helperPeakKiB())
}

// helperPeakKiB bounds what a stage too small to measure may report: a
// sample can land on the pre-exec helper before its exec, a Go program of a
// few MiB, much bigger when built with the race detector.
func helperPeakKiB() float64 {
	if os.Getenv("LAUNCHER_RACE") != "" {
		return 32 << 10
	}
	return 8 << 10
}
