package main

import (
	"testing"
	"time"
)

// TestPID1SurvivesEverySignalFromTheProgram: the program sends every signal
// number to PID 1, the launcher, and must still get its result frame.
func TestPID1SurvivesEverySignalFromTheProgram(t *testing.T) {
	prefix := pid1Prefix(t)
	b := shBundle(`for s in $(seq 1 64); do kill -s $s 1 2>/dev/null || kill -$s 1 || echo "cannot send $s"; done; sleep 0.2; echo alive`)
	o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
	expect(t, "stdout", o.out("o"), "alive\n")
	r := o.result(t, "run")
	expect(t, "exit_code", r["exit_code"], 0)
	expect(t, "launcher exit", o.exitCode, 0)
	if o.out("e") != "" {
		t.Errorf("stderr %q", o.out("e"))
	}
}

// TestNotPID1StopsOnSIGTERMFromTheProgram keeps the behaviour outside a PID
// namespace: a SIGTERM to the launcher stops the run with a result frame.
func TestNotPID1StopsOnSIGTERMFromTheProgram(t *testing.T) {
	o := runBundle(t, shBundle("kill -TERM $PPID; sleep 5; echo not-stopped"), 65536)
	r := o.result(t, "run")
	expect(t, "signal", r["signal"], "SIGKILL")
	expect(t, "stdout", o.out("o"), "")
	if o.elapsed > 3*time.Second {
		t.Errorf("took %v", o.elapsed)
	}
}
