package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freshUID is a uid no process on this machine runs as, so RLIMIT_NPROC,
// which counts the tasks of a uid, sees only the launcher's and the program's.
const freshUID = 48213

// asFreshUser runs the bundle with the launcher as PID 1 under freshUID.
func asFreshUser(t *testing.T, b map[string]any) *outcome {
	t.Helper()
	id := strconv.Itoa(freshUID)
	prefix := pid1Prefix(t, "--setuid", id, "--setgid", id)
	if err := os.Chmod(filepath.Dir(launcherBin), 0o755); err != nil {
		t.Fatal(err)
	}
	workdir, err := os.MkdirTemp("", "isobox-nproc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(workdir) })
	if err := os.Chown(workdir, freshUID, freshUID); err != nil {
		t.Fatal(err)
	}
	b["workdir"] = workdir
	return runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
}

// nprocLimit prints the soft and hard RLIMIT_NPROC (dash has no ulimit -u).
const nprocLimit = `awk '/^Max processes/ {print $3, $4}' /proc/self/limits`

func TestMaxProcessesStopsAForkBomb(t *testing.T) {
	b := shBundle(nprocLimit + "; bomb() { bomb | bomb & }; bomb; sleep 30")
	b["max_processes"] = 32
	b["timeout_ms"] = 2000
	o := asFreshUser(t, b)
	r := o.result(t, "run")
	expect(t, "RLIMIT_NPROC", o.out("o"), "32 32\n")
	expect(t, "timed_out", r["timed_out"], true)
	if !strings.Contains(o.out("e"), "fork") {
		t.Errorf("no failed fork in stderr %q", o.out("e"))
	}
	if o.elapsed > 2*time.Second+2*drainGrace {
		t.Errorf("took %v", o.elapsed)
	}
}

func TestMaxProcessesLeavesRoomForTen(t *testing.T) {
	b := shBundle("for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.3 & done; wait; echo ten")
	b["max_processes"] = 32
	o := asFreshUser(t, b)
	expect(t, "stdout", o.out("o"), "ten\n")
	expect(t, "stderr", o.out("e"), "")
	expect(t, "exit_code", o.result(t, "run")["exit_code"], 0)
}

func TestMaxProcessesNotSetByDefault(t *testing.T) {
	o := runBundle(t, shBundle(nprocLimit), 65536)
	if o.out("o") == "" || o.out("o") == "32 32\n" {
		t.Errorf("RLIMIT_NPROC = %q", o.out("o"))
	}
}
