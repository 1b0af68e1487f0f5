package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// warmLauncher is a launcher started without a bundle, as in a warm pool.
type warmLauncher struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	start  time.Time
}

func startWarm(t *testing.T, env ...string) *warmLauncher {
	t.Helper()
	cmd := exec.Command(launcherBin)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &warmLauncher{cmd, stdin, bufio.NewReader(stdout), time.Now()}
}

func (w *warmLauncher) firstLine(t *testing.T) string {
	t.Helper()
	line, err := w.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("first frame: %v", err)
	}
	return line
}

// finish reads the rest of the frames and the exit code.
func (w *warmLauncher) finish(t *testing.T) *outcome {
	t.Helper()
	rest, _ := io.ReadAll(w.stdout)
	err := w.cmd.Wait()
	o := &outcome{streams: map[string]*bytes.Buffer{}, elapsed: time.Since(w.start)}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		o.exitCode = exitErr.ExitCode()
	}
	parseFrames(t, rest, o)
	return o
}

func TestWarmBundleOnStdin(t *testing.T) {
	w := startWarm(t, "ISOBOX_BUNDLE_WAIT_MS=5000", "ISOBOX_OTHER=secret")
	expect(t, "first frame", w.firstLine(t), "w ready\n")
	b := shBundle("cat; env | grep -c ISOBOX_ || true")
	b["stdin_b64"] = "ZnJvbS1idW5kbGUK" // "from-bundle\n"
	// What follows the newline must not reach the program.
	fmt.Fprintf(w.stdin, "%s\nnot-for-the-program\n", encodeBundle(t, b))
	o := w.finish(t)
	expect(t, "stdout", o.out("o"), "from-bundle\n0\n")
	expect(t, "last frame", o.frames[len(o.frames)-1], "r")
	expect(t, "launcher exit", o.exitCode, 0)
}

func TestWarmBundleEndedByEOF(t *testing.T) {
	w := startWarm(t)
	w.firstLine(t)
	io.WriteString(w.stdin, encodeBundle(t, shBundle("echo eof-ended")))
	w.stdin.Close()
	o := w.finish(t)
	expect(t, "stdout", o.out("o"), "eof-ended\n")
}

func TestWarmNoBundleWithinWait(t *testing.T) {
	w := startWarm(t, "ISOBOX_BUNDLE_WAIT_MS=300")
	w.firstLine(t)
	o := w.finish(t) // stdin stays open, nothing written
	expect(t, "frames", o.frames, []string{"x"})
	expect(t, "launcher exit", o.exitCode, exitLauncherError)
	if o.elapsed < 300*time.Millisecond || o.elapsed > 2*time.Second {
		t.Errorf("gave up after %v, want about 300ms", o.elapsed)
	}
}

func TestWarmStdinClosedWithoutBundle(t *testing.T) {
	w := startWarm(t)
	w.firstLine(t)
	w.stdin.Close()
	o := w.finish(t)
	expect(t, "frames", o.frames, []string{"x"})
	expect(t, "launcher exit", o.exitCode, exitLauncherError)
}

func TestWarmIsolationCheckedBeforeReady(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	port := listener.Addr().(*net.TCPAddr).Port
	w := startWarm(t, "PROBE_PORT="+fmt.Sprint(port), "ISOBOX_ISOLATION_PROBES=127.0.0.1:9, 127.0.0.1:$PROBE_PORT",
		"ISOBOX_ISOLATION_WAIT_MS=300")
	first := w.firstLine(t)
	if !strings.HasPrefix(first, "x ") {
		t.Fatalf("first frame %q, want x (no w ready while isolation is not in force)", first)
	}
	expect(t, "launcher exit", w.finish(t).exitCode, exitLauncherError)
}

func TestWarmIsolationPassesThenReady(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	address := listener.Addr().String()
	listener.Close() // refused from now on
	w := startWarm(t, "ISOBOX_ISOLATION_PROBES="+address, "ISOBOX_ISOLATION_WAIT_MS=1000")
	expect(t, "first frame", w.firstLine(t), "w ready\n")
}

func TestWarmConfigInvalid(t *testing.T) {
	w := startWarm(t, "ISOBOX_BUNDLE_WAIT_MS=soon")
	if first := w.firstLine(t); !strings.HasPrefix(first, "x ") {
		t.Errorf("first frame %q, want x", first)
	}
}

func TestReadBundleLine(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"abc\n", "abc", true},
		{"abc", "abc", true},
		{"abc\ndef\n", "abc", true},
		{"0123456789\n", "0123456789", true}, // exactly the limit
		{"0123456789a\n", "", false},
		{"", "", false},
		{"\n", "", false},
	}
	for _, c := range cases {
		got, err := readBundleLine(strings.NewReader(c.in), 10, time.Second)
		if got != c.want || (err == nil) != c.ok {
			t.Errorf("readBundleLine(%q) = %q, %v", c.in, got, err)
		}
	}
}

func TestSplitList(t *testing.T) {
	expect(t, "splitList", splitList(" a:1, ,$B:2,"), []string{"a:1", "$B:2"})
}
