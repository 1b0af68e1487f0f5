package main

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func regexpMatch(pattern, s string) bool {
	return regexp.MustCompile(pattern).MatchString(s)
}

func TestCleanRelPath(t *testing.T) {
	good := map[string]string{"a": "a", "a/b.c": "a/b.c", "./a//b/": "a/b", "a..b": "a..b", ".hidden": ".hidden"}
	for in, want := range good {
		if got, err := cleanRelPath(in); err != nil || got != want {
			t.Errorf("cleanRelPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "/a", "..", "../a", "a/../b", "a/..", ".", "./", "a\x00"} {
		if got, err := cleanRelPath(in); err == nil {
			t.Errorf("cleanRelPath(%q) = %q, want error", in, got)
		}
	}
}

func TestDataFrame(t *testing.T) {
	var buf bytes.Buffer
	fw := &frameWriter{w: &buf}
	fw.data("co", []byte("hi\n"))
	fw.data("e", nil)
	if got := buf.String(); got != "co aGkK\ne \n" {
		t.Errorf("frames = %q", got)
	}
}

func TestResultStatus(t *testing.T) {
	var r Result
	r.setStatus(syscall.WaitStatus(uint32(syscall.SIGKILL)))
	if *r.Signal != "SIGKILL" || r.ExitCode != nil || r.exitStatus() != 137 || r.ok() {
		t.Errorf("signalled: %+v", r)
	}
	r = Result{}
	r.setStatus(syscall.WaitStatus(3 << 8))
	if *r.ExitCode != 3 || r.Signal != nil || r.exitStatus() != 3 {
		t.Errorf("exited: %+v", r)
	}
}

func TestSignalName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{syscall.SIGSEGV: "SIGSEGV", 40: "SIGRT40", 99: "SIG99"} {
		if got := signalName(sig); got != want {
			t.Errorf("signalName(%d) = %q, want %q", sig, got, want)
		}
	}
}

func TestLookPathUsesGivenPath(t *testing.T) {
	if _, err := lookPath("sh", map[string]string{"PATH": "/nonexistent"}, "/"); err == nil {
		t.Error("found sh outside the given PATH")
	}
	if got, err := lookPath("sh", map[string]string{}, "/"); err != nil || got == "" {
		t.Errorf("default PATH: %q, %v", got, err)
	}
	if got, _ := lookPath("./x", nil, "/"); got != "./x" {
		t.Errorf("slash name rewritten to %q", got)
	}
}

func TestReadCounter(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/memory.events"
	writeTestFile(t, file, "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n")
	if n, ok := readCounter(file, "oom_kill"); !ok || n != 2 {
		t.Errorf("readCounter = %d, %v", n, ok)
	}
	if _, ok := readCounter(dir+"/missing", "oom_kill"); ok {
		t.Error("missing file read")
	}
}

func TestAwaitIsolationPassesWhenNothingAnswers(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // now refused
	if err := awaitIsolation([]string{address}, time.Second); err != nil {
		t.Fatalf("closed port treated as open: %v", err)
	}
}

func TestAwaitIsolationFailsClosedWhileAProbeAnswers(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	t.Setenv("PROBE_PORT", fmt.Sprint(listener.Addr().(*net.TCPAddr).Port))
	err = awaitIsolation([]string{"127.0.0.1:$PROBE_PORT"}, 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "not in force") {
		t.Fatalf("open listener not detected: %v", err)
	}
}

func TestUnsetProbeVariablesAreSkipped(t *testing.T) {
	if got := expandProbes([]string{"$ISOBOX_UNSET_HOST:$ISOBOX_UNSET_PORT"}); len(got) != 0 {
		t.Fatalf("expected no targets, got %v", got)
	}
}
