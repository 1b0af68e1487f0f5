package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run the real launcher binary against real /bin/sh processes.

var launcherBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "isobox-launch-test")
	if err != nil {
		panic(err)
	}
	launcherBin = filepath.Join(dir, "isobox-launch")
	// LAUNCHER_RACE=1 builds the binary under test with the race detector.
	args, cgo := []string{"build", "-o", launcherBin}, "CGO_ENABLED=0"
	if os.Getenv("LAUNCHER_RACE") != "" {
		args, cgo = append(args, "-race"), "CGO_ENABLED=1"
	}
	build := exec.Command("go", append(args, ".")...)
	build.Env = append(os.Environ(), cgo)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var testEnv = map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

// outcome is a parsed launcher run.
type outcome struct {
	frames   []string // frame tags in order: "o", "e", "co", "ce", "r", "x"
	streams  map[string]*bytes.Buffer
	results  []map[string]any
	records  []map[string]any  // d and f frames, in order (each with its "tag")
	files    map[string][]byte // fd data by the name of the f frame before it
	exitCode int
	stderr   string // the launcher's own stderr
	elapsed  time.Duration
	maxFrame int // largest raw payload of an o/e frame
}

func (o *outcome) out(tag string) string {
	if b, ok := o.streams[tag]; ok {
		return b.String()
	}
	return ""
}

func (o *outcome) result(t *testing.T, stage string) map[string]any {
	t.Helper()
	for _, r := range o.results {
		if r["stage"] == stage {
			return r
		}
	}
	t.Fatalf("no %s result in %v (launcher stderr: %s)", stage, o.frames, o.stderr)
	return nil
}

func shBundle(script string) map[string]any {
	return map[string]any{"command": []string{"sh", "-c", script}, "env": testEnv, "timeout_ms": 5000}
}

func encodeBundle(t *testing.T, bundle map[string]any) string {
	t.Helper()
	if _, ok := bundle["workdir"]; !ok {
		bundle["workdir"] = t.TempDir()
	}
	js, err := json.Marshal(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(js)
}

// runBundle runs the launcher with the bundle split into chunks of chunkSize.
func runBundle(t *testing.T, bundle map[string]any, chunkSize int, extraEnv ...string) *outcome {
	t.Helper()
	encoded := encodeBundle(t, bundle)
	env := append([]string{"PATH=/usr/bin:/bin"}, extraEnv...)
	for i := 0; len(encoded) > 0; i++ {
		n := chunkSize
		if n > len(encoded) {
			n = len(encoded)
		}
		env = append(env, fmt.Sprintf("ISOBOX_BUNDLE_%d=%s", i, encoded[:n]))
		encoded = encoded[n:]
	}
	return runLauncher(t, env, nil)
}

func runLauncher(t *testing.T, env []string, prefix []string) *outcome {
	t.Helper()
	argv := append(append([]string{}, prefix...), launcherBin)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := &outcome{streams: map[string]*bytes.Buffer{}, stderr: stderr.String(), elapsed: time.Since(start)}
	if exitErr, ok := err.(*exec.ExitError); ok {
		o.exitCode = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run launcher: %v", err)
	}
	parseFrames(t, stdout.Bytes(), o)
	return o
}

func parseFrames(t *testing.T, stdout []byte, o *outcome) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		tag, payload, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("malformed frame %q", sc.Text())
		}
		o.frames = append(o.frames, tag)
		if tag == "w" {
			expect(t, "ready frame", payload, "ready")
			continue
		}
		if tag == "r" || tag == "d" || tag == "f" {
			var r map[string]any
			if err := json.Unmarshal([]byte(payload), &r); err != nil {
				t.Fatalf("bad %s frame %q: %v", tag, payload, err)
			}
			if tag == "r" {
				o.results = append(o.results, r)
				continue
			}
			r["tag"] = tag
			o.records = append(o.records, r)
			if tag == "f" && r["skipped"] == nil {
				if o.files == nil {
					o.files = map[string][]byte{}
				}
				o.files[r["name"].(string)] = []byte{}
			}
			continue
		}
		data, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			t.Fatalf("bad base64 in %q: %v", tag, err)
		}
		if len(data) > o.maxFrame {
			o.maxFrame = len(data)
		}
		if tag == "fd" {
			name := o.records[len(o.records)-1]["name"].(string)
			o.files[name] = append(o.files[name], data...)
			continue
		}
		if o.streams[tag] == nil {
			o.streams[tag] = &bytes.Buffer{}
		}
		o.streams[tag].Write(data)
	}
}

func expect(t *testing.T, what string, got, want any) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestHelloWorld(t *testing.T) {
	o := runBundle(t, shBundle("echo hello"), 65536)
	expect(t, "stdout", o.out("o"), "hello\n")
	r := o.result(t, "run")
	expect(t, "exit_code", r["exit_code"], 0)
	expect(t, "signal", r["signal"], nil)
	expect(t, "timed_out", r["timed_out"], false)
	expect(t, "launcher exit", o.exitCode, 0)
	expect(t, "frames", o.frames, []string{"o", "r"})
	if o.stderr != "" {
		t.Errorf("launcher stderr: %q", o.stderr)
	}
}

func TestResultFieldOrder(t *testing.T) {
	encoded := encodeBundle(t, shBundle("true"))
	cmd := exec.Command(launcherBin)
	cmd.Env = []string{"ISOBOX_BUNDLE_0=" + encoded}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := `^r \{"stage":"run","exit_code":0,"signal":null,"timed_out":false,"oom_killed":false,` +
		`"stdout_truncated":false,"stderr_truncated":false,"duration_ms":\d+,` +
		`"cpu_time_ms":\d+,"memory_peak_kib":\d+,"cpu_time_exceeded":false\}\n$`
	if !regexpMatch(want, string(out)) {
		t.Errorf("result line %q does not match %s", out, want)
	}
}

func TestStderrAndExitCode(t *testing.T) {
	o := runBundle(t, shBundle("echo oops >&2; exit 3"), 65536)
	expect(t, "stderr", o.out("e"), "oops\n")
	expect(t, "exit_code", o.result(t, "run")["exit_code"], 3)
	expect(t, "launcher exit", o.exitCode, 3)
}

func TestInterleavedOrder(t *testing.T) {
	o := runBundle(t, shBundle("echo 1; sleep 0.05; echo 2 >&2; sleep 0.05; echo 3; sleep 0.05; echo 4 >&2"), 65536)
	expect(t, "frames", o.frames, []string{"o", "e", "o", "e", "r"})
}

func TestStdin(t *testing.T) {
	b := shBundle("cat; echo done")
	b["stdin_b64"] = base64.StdEncoding.EncodeToString([]byte("line1\nline2\n"))
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "line1\nline2\ndone\n")
}

func TestLargeStdinNotRead(t *testing.T) {
	b := shBundle("echo ignored")
	b["stdin_b64"] = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("x"), 1<<20))
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "ignored\n")
	expect(t, "exit_code", o.result(t, "run")["exit_code"], 0)
}

func TestLargeStdinEchoed(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB, several pipe buffers
	b := shBundle("cat")
	b["stdin_b64"] = base64.StdEncoding.EncodeToString(data)
	o := runBundle(t, b, 65536)
	if o.out("o") != string(data) {
		t.Errorf("stdout has %d bytes, want %d", len(o.out("o")), len(data))
	}
}

func TestEnvIsExactlyBundleEnv(t *testing.T) {
	b := shBundle("env | sort")
	b["env"] = map[string]string{"PATH": "/usr/bin:/bin", "FOO": "bar baz"}
	o := runBundle(t, b, 65536, "LEAK=1", "ISOBOX_SECRET=x")
	// sh itself may add PWD; anything else must come from the bundle.
	got := strings.ReplaceAll(o.out("o"), "PWD="+b["workdir"].(string)+"\n", "")
	expect(t, "env", got, "FOO=bar baz\nPATH=/usr/bin:/bin\n")
}

func TestMultiChunkBundle(t *testing.T) {
	content := strings.Repeat("# padding\n", 20000) + "echo big-bundle\n"
	b := shBundle("sh main.sh")
	b["files"] = []map[string]string{{"path": "main.sh", "content_b64": base64.StdEncoding.EncodeToString([]byte(content))}}
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "big-bundle\n")
	o = runBundle(t, shBundle("echo tiny-chunks"), 7)
	expect(t, "stdout", o.out("o"), "tiny-chunks\n")
}

func TestFilesWritten(t *testing.T) {
	b := shBundle("cat a.txt dir/sub/b.txt; pwd")
	b["files"] = []map[string]string{
		{"path": "a.txt", "content_b64": base64.StdEncoding.EncodeToString([]byte("A\n"))},
		{"path": "./dir//sub/b.txt", "content_b64": base64.StdEncoding.EncodeToString([]byte("B\n"))},
	}
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "A\nB\n"+b["workdir"].(string)+"\n")
}

func TestBadPathsRefused(t *testing.T) {
	for _, p := range []string{"../escape", "/etc/passwd", "a/../../x", "a/..", "", ".", "a/\x00b"} {
		b := shBundle("echo should-not-run")
		b["files"] = []map[string]string{{"path": p, "content_b64": ""}}
		o := runBundle(t, b, 65536)
		if o.exitCode != exitLauncherError || !onlyErrorFrame(o) || !strings.Contains(o.stderr, "isobox-launch:") {
			t.Errorf("path %q: exit %d frames %v stderr %q", p, o.exitCode, o.frames, o.stderr)
		}
	}
}

func TestSymlinkInWorkdirNotFollowed(t *testing.T) {
	workdir, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(outside, filepath.Join(workdir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"link/x", "link"} {
		b := shBundle("true")
		b["workdir"] = workdir
		b["files"] = []map[string]string{{"path": p, "content_b64": "eA=="}}
		o := runBundle(t, b, 65536)
		expect(t, "exit for "+p, o.exitCode, exitLauncherError)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("a file was written outside the workdir: %v", entries)
	}
}

func TestInvalidBundles(t *testing.T) {
	cases := map[string][]string{
		"not base64": {"ISOBOX_BUNDLE_0=@@@"},
		"not json":   {"ISOBOX_BUNDLE_0=" + base64.StdEncoding.EncodeToString([]byte("{"))},
		"no command": {"ISOBOX_BUNDLE_0=" + base64.StdEncoding.EncodeToString([]byte(`{"command":[]}`))},
	}
	for name, env := range cases {
		o := runLauncher(t, env, nil)
		if o.exitCode != exitLauncherError || !onlyErrorFrame(o) || o.stderr == "" {
			t.Errorf("%s: exit %d frames %v stderr %q", name, o.exitCode, o.frames, o.stderr)
		}
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	b := shBundle("echo started; sleep 30 & sleep 30")
	b["timeout_ms"] = 300
	o := runBundle(t, b, 65536)
	r := o.result(t, "run")
	expect(t, "timed_out", r["timed_out"], true)
	expect(t, "signal", r["signal"], "SIGKILL")
	expect(t, "exit_code", r["exit_code"], nil)
	expect(t, "oom_killed", r["oom_killed"], false)
	expect(t, "launcher exit", o.exitCode, 137)
	expect(t, "stdout", o.out("o"), "started\n")
	if o.elapsed > 3*time.Second {
		t.Errorf("took %v", o.elapsed)
	}
}

func TestLeftoverProcessesDoNotHoldTheRun(t *testing.T) {
	o := runBundle(t, shBundle("sleep 30 & echo done"), 65536)
	expect(t, "stdout", o.out("o"), "done\n")
	expect(t, "exit_code", o.result(t, "run")["exit_code"], 0)
	if o.elapsed > 3*time.Second {
		t.Errorf("took %v: a background process kept the pipes open", o.elapsed)
	}
}

func TestEscapedProcessOnlyDelaysByGrace(t *testing.T) {
	// setsid leaves the process group; not being PID 1, the launcher cannot
	// kill it, so it stops reading after drainGrace.
	b := shBundle("setsid sleep 5 & sleep 0.2; echo done")
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "done\n")
	if o.elapsed < drainGrace || o.elapsed > drainGrace+2*time.Second {
		t.Errorf("took %v, want about drainGrace (%v)", o.elapsed, drainGrace)
	}
}

func TestSignalled(t *testing.T) {
	o := runBundle(t, shBundle("kill -TERM $$"), 65536)
	r := o.result(t, "run")
	expect(t, "signal", r["signal"], "SIGTERM")
	expect(t, "exit_code", r["exit_code"], nil)
	expect(t, "timed_out", r["timed_out"], false)
	expect(t, "launcher exit", o.exitCode, 143)
}

func TestOutputTruncatedAndDrained(t *testing.T) {
	b := shBundle("head -c 3000000 /dev/zero; echo tail >&2")
	b["output_limit"] = 100000
	o := runBundle(t, b, 65536)
	r := o.result(t, "run")
	expect(t, "stdout bytes", len(o.out("o")), 100000)
	expect(t, "stdout_truncated", r["stdout_truncated"], true)
	expect(t, "stderr_truncated", r["stderr_truncated"], false)
	expect(t, "stderr", o.out("e"), "tail\n")
	expect(t, "exit_code", r["exit_code"], 0)
}

func TestOutputExactlyAtLimitNotTruncated(t *testing.T) {
	b := shBundle("printf 12345")
	b["output_limit"] = 5
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "12345")
	expect(t, "stdout_truncated", o.result(t, "run")["stdout_truncated"], false)
}

func TestFramesAreBounded(t *testing.T) {
	o := runBundle(t, shBundle("head -c 1000000 /dev/zero"), 65536)
	expect(t, "stdout bytes", len(o.out("o")), 1000000)
	if o.maxFrame > maxFrameBytes {
		t.Errorf("largest frame %d bytes > %d", o.maxFrame, maxFrameBytes)
	}
}

func TestMissingBinary(t *testing.T) {
	b := shBundle("")
	b["command"] = []string{"no-such-binary-xyz", "arg"}
	o := runBundle(t, b, 65536)
	r := o.result(t, "run")
	expect(t, "exit_code", r["exit_code"], 127)
	expect(t, "launcher exit", o.exitCode, 127)
	if !strings.Contains(o.out("e"), "no-such-binary-xyz") {
		t.Errorf("stderr frames %q lack the reason", o.out("e"))
	}
}

func TestCommandResolvedWithBundlePath(t *testing.T) {
	b := shBundle("")
	b["command"] = []string{"tool"}
	b["env"] = map[string]string{"PATH": "bin"} // relative to the workdir
	b["files"] = []map[string]string{{"path": "bin/tool", "content_b64": ""}}
	o := runBundle(t, b, 65536)
	// files are written 0644, so "tool" is found but not executable: 127.
	expect(t, "exit_code", o.result(t, "run")["exit_code"], 127)

	b = shBundle("")
	b["command"] = []string{"./main.sh"}
	b["files"] = []map[string]string{{"path": "main.sh", "content_b64": base64.StdEncoding.EncodeToString([]byte("#!/bin/sh\necho x\n"))}}
	o = runBundle(t, b, 65536)
	expect(t, "exit_code (not executable)", o.result(t, "run")["exit_code"], 127)
}

func TestCompileStage(t *testing.T) {
	b := shBundle("cat out.txt")
	b["compile"] = map[string]any{"command": []string{"sh", "-c", "echo compiling; sleep 0.05; echo warning >&2; echo built > out.txt"}, "timeout_ms": 5000}
	o := runBundle(t, b, 65536)
	expect(t, "frames", o.frames, []string{"co", "ce", "r", "o", "r"})
	expect(t, "compile stdout", o.out("co"), "compiling\n")
	expect(t, "compile stderr", o.out("ce"), "warning\n")
	expect(t, "run stdout", o.out("o"), "built\n")
	expect(t, "compile exit", o.result(t, "compile")["exit_code"], 0)
	expect(t, "launcher exit", o.exitCode, 0)
}

func TestCompileFailureStops(t *testing.T) {
	b := shBundle("echo should-not-run")
	b["compile"] = map[string]any{"command": []string{"sh", "-c", "echo bad >&2; exit 2"}}
	o := runBundle(t, b, 65536)
	expect(t, "frames", o.frames, []string{"ce", "r"})
	expect(t, "compile exit", o.result(t, "compile")["exit_code"], 2)
	expect(t, "launcher exit", o.exitCode, 2)
}

func TestCompileTimeout(t *testing.T) {
	b := shBundle("echo should-not-run")
	b["compile"] = map[string]any{"command": []string{"sleep", "10"}, "timeout_ms": 200}
	o := runBundle(t, b, 65536)
	r := o.result(t, "compile")
	expect(t, "timed_out", r["timed_out"], true)
	expect(t, "frames", o.frames, []string{"r"})
	expect(t, "launcher exit", o.exitCode, 137)
}

func TestNullCompileIgnored(t *testing.T) {
	b := shBundle("echo ok")
	b["compile"] = nil
	o := runBundle(t, b, 65536)
	expect(t, "frames", o.frames, []string{"o", "r"})
}

func TestSIGTERMToLauncherKillsRun(t *testing.T) {
	encoded := encodeBundle(t, shBundle("echo up; sleep 30"))
	cmd := exec.Command(launcherBin)
	cmd.Env = []string{"ISOBOX_BUNDLE_0=" + encoded}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	o := &outcome{streams: map[string]*bytes.Buffer{}}
	parseFrames(t, stdout.Bytes(), o)
	r := o.result(t, "run")
	expect(t, "signal", r["signal"], "SIGKILL")
	expect(t, "timed_out", r["timed_out"], false)
	expect(t, "oom_killed", r["oom_killed"], false)
}

// TestAsPID1 runs the launcher as PID 1 of a new PID namespace (needs root and
// unshare): timeouts then use kill(-1) and orphans must be reaped.
func TestAsPID1(t *testing.T) {
	prefix := pid1Prefix(t)
	// Orphans (double-forked sleeps) must not stay zombies; setsid escapees die on timeout.
	script := `echo pid=$PPID; for i in 1 2 3; do (sh -c 'exit 0' &); done; sleep 0.3;
		grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; setsid sleep 30 & sleep 30`
	b := shBundle(script)
	b["timeout_ms"] = 1000
	env := []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}
	o := runLauncher(t, env, prefix)
	expect(t, "stdout", o.out("o"), "pid=1\n0\n")
	expect(t, "timed_out", o.result(t, "run")["timed_out"], true)
	if o.elapsed > 1000*time.Millisecond+drainGrace {
		t.Errorf("took %v: kill(-1) should have closed every pipe", o.elapsed)
	}
}

func TestTimeoutKillsChildThatLeftItsGroup(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3")
	}
	// The main process moves itself into a helper's process group, out of
	// reach of kill(-pgid); the launcher must still kill it by pid.
	script := `import os, time
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0); os.write(w, b"x"); time.sleep(30); os._exit(0)
os.read(r, 1)
os.setpgid(0, pid)
print("moved", flush=True)
time.sleep(30)
`
	b := shBundle("")
	b["command"] = []string{"python3", "-c", script}
	b["timeout_ms"] = 500
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "moved\n")
	expect(t, "timed_out", o.result(t, "run")["timed_out"], true)
	if o.elapsed > 500*time.Millisecond+drainGrace+time.Second {
		t.Errorf("took %v", o.elapsed)
	}
}

// onlyErrorFrame: a launcher failure prints its reason as one "x" frame and nothing else.
func onlyErrorFrame(o *outcome) bool {
	return len(o.frames) == 1 && o.frames[0] == "x"
}

func TestStageMemoryLimit(t *testing.T) {
	// The compile stage may use 16 MiB here; the run stage has no own limit.
	grow := "x=$(head -c 40000000 /dev/zero | tr '\\0' a); echo grew ${#x}"
	b := shBundle(grow)
	b["compile"] = map[string]any{"command": []string{"sh", "-c", grow}, "timeout_ms": 10000, "memory_bytes": 16 << 20}
	o := runBundle(t, b, 65536)
	r := o.result(t, "compile")
	expect(t, "compile oom_killed", r["oom_killed"], true)
	expect(t, "compile timed_out", r["timed_out"], false)
	expect(t, "compile signal", r["signal"], "SIGKILL")
	expect(t, "frames", o.frames, []string{"r"})

	b = shBundle(grow)
	b["compile"] = map[string]any{"command": []string{"sh", "-c", grow}, "timeout_ms": 10000, "memory_bytes": 512 << 20}
	b["memory_bytes"] = 16 << 20
	o = runBundle(t, b, 65536)
	expect(t, "compile within its limit", o.out("co"), "grew 40000000\n")
	r = o.result(t, "run")
	expect(t, "run oom_killed", r["oom_killed"], true)
}

func TestStageMemoryLimitLeavesSmallStagesAlone(t *testing.T) {
	b := shBundle("echo small")
	b["memory_bytes"] = 16 << 20
	o := runBundle(t, b, 65536)
	expect(t, "stdout", o.out("o"), "small\n")
	expect(t, "oom_killed", o.result(t, "run")["oom_killed"], false)
}

func TestStageMemoryPeakCaughtAfterAQuickExit(t *testing.T) {
	// Faster than any sampling: grows past 16 MiB and exits at once.
	b := shBundle("head -c 40000000 /dev/zero | tr '\\0' a | sort > /dev/null; echo done")
	b["memory_bytes"] = 16 << 20
	o := runBundle(t, b, 65536)
	expect(t, "oom_killed", o.result(t, "run")["oom_killed"], true)
}

func TestStageMemoryLimitKillsTheLargestProcessLikeTheKernel(t *testing.T) {
	// A child grows past the stage's own 24 MiB; the parent survives it and exits 0,
	// as it would when the kernel's OOM killer takes the child at a cgroup limit.
	script := "sh -c 'x=$(head -c 60000000 /dev/zero | tr \"\\0\" a); echo ${#x}'; echo parent $?"
	b := shBundle(script)
	b["memory_bytes"] = 24 << 20
	o := runBundle(t, b, 65536)
	r := o.result(t, "run")
	expect(t, "exit_code", r["exit_code"], float64(0))
	expect(t, "oom_killed", r["oom_killed"], true)
	expect(t, "parent saw its child killed", o.out("o"), "parent 137\n")
}
