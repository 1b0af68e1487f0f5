package main

import (
	"os"
	"os/exec"
	"testing"
)

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// pid1Prefix is the command prefix that runs the launcher as PID 1 of a new
// PID namespace with its own /proc; extra are more unshare options. It skips
// the test without root or a working unshare.
func pid1Prefix(t *testing.T, extra ...string) []string {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and unshare")
	}
	prefix := append([]string{unshare, "--pid", "--fork", "--mount-proc"}, extra...)
	if out, err := exec.Command(prefix[0], append(prefix[1:], "true")...).CombinedOutput(); err != nil {
		t.Skipf("unshare does not work here: %v %s", err, out)
	}
	return prefix
}
