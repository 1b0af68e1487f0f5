package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// probeSource calls each system call given as "name:nr:a0:a1:..." in its
// arguments and prints "name errno" (0: it succeeded).
const probeSource = `package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	for _, spec := range os.Args[1:] {
		f := strings.Split(spec, ":")
		var a [7]uintptr
		for i, s := range f[1:] {
			n, _ := strconv.ParseInt(s, 0, 64)
			a[i] = uintptr(n)
		}
		_, _, e := syscall.RawSyscall6(a[0], a[1], a[2], a[3], a[4], a[5], a[6])
		fmt.Printf("%s %d\n", f[0], int(e))
	}
}
`

// probe is one system call the test makes, with arguments that are harmless
// when the filter is off and the test runs as root (no kexec unload, no acct
// off), and the errno the filter must answer.
type probe struct {
	name string
	nr   uint32
	args string // colon-separated, missing ones are 0
	want syscall.Errno
}

// amd64Probes covers deniedSyscalls (checked below) and the argument rules.
var amd64Probes = []probe{
	{"io_uring_setup", 425, "", syscall.EPERM}, {"io_uring_enter", 426, "-1", syscall.EPERM},
	{"io_uring_register", 427, "-1", syscall.EPERM},
	{"add_key", 248, "", syscall.EPERM}, {"request_key", 249, "", syscall.EPERM},
	{"keyctl", 250, "-1", syscall.EPERM},
	{"bpf", 321, "-1", syscall.EPERM}, {"perf_event_open", 298, "", syscall.EPERM},
	{"userfaultfd", 323, "-1", syscall.EPERM},
	{"mount", 165, "", syscall.EPERM}, {"umount2", 166, "", syscall.EPERM}, {"pivot_root", 155, "", syscall.EPERM},
	{"open_tree", 428, "-1", syscall.EPERM}, {"move_mount", 429, "-1", syscall.EPERM},
	{"fsopen", 430, "", syscall.EPERM}, {"fsconfig", 431, "-1", syscall.EPERM},
	{"fsmount", 432, "-1", syscall.EPERM}, {"fspick", 433, "-1", syscall.EPERM},
	{"mount_setattr", 442, "-1", syscall.EPERM},
	{"unshare", 272, "0", syscall.EPERM}, {"setns", 308, "-1", syscall.EPERM},
	{"clone3", 435, "", syscall.ENOSYS},
	{"kexec_load", 246, "0:0:0:0xffffffff", syscall.EPERM}, {"kexec_file_load", 320, "-1:-1", syscall.EPERM},
	{"init_module", 175, "", syscall.EPERM}, {"finit_module", 313, "-1", syscall.EPERM},
	{"delete_module", 176, "", syscall.EPERM},
	{"swapon", 167, "", syscall.EPERM}, {"swapoff", 168, "", syscall.EPERM},
	{"reboot", 169, "", syscall.EPERM}, {"acct", 163, "1", syscall.EPERM},
	{"quotactl", 179, "", syscall.EPERM}, {"quotactl_fd", 443, "-1", syscall.EPERM},
	{"lookup_dcookie", 212, "", syscall.EPERM},
	{"name_to_handle_at", 303, "-1", syscall.EPERM}, {"open_by_handle_at", 304, "-1", syscall.EPERM},
	{"iopl", 172, "", syscall.EPERM}, {"ioperm", 173, "", syscall.EPERM},
	{"syslog", 103, "0", syscall.EPERM}, {"uselib", 134, "", syscall.EPERM},
	// CLONE_NEWUSER|CLONE_FS: EINVAL to the kernel, so no child even unfiltered.
	{"clone_newuser", 56, "0x10000200", syscall.EPERM},
	{"personality_no_aslr", 135, "0x0040000", syscall.EPERM},
	{"personality_query", 135, "0xffffffff", 0},
	{"x32_getpid", 0x40000000 | 39, "", syscall.ENOSYS},
}

func buildProbe(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "go.mod"), "module probe\n\ngo 1.19\n")
	writeTestFile(t, filepath.Join(dir, "main.go"), probeSource)
	bin := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir, build.Env = dir, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build probe: %v\n%s", err, out)
	}
	return bin
}

func probeArgs(bin string) []string {
	argv := []string{bin}
	for _, p := range amd64Probes {
		argv = append(argv, fmt.Sprintf("%s:%d:%s", p.name, p.nr, p.args))
	}
	return argv
}

// errnos parses the probe's "name errno" lines.
func errnos(t *testing.T, out string) map[string]syscall.Errno {
	t.Helper()
	got := map[string]syscall.Errno{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var name string
		var e int
		if _, err := fmt.Sscanf(line, "%s %d", &name, &e); err != nil {
			t.Fatalf("probe line %q: %v", line, err)
		}
		got[name] = syscall.Errno(e)
	}
	return got
}

func TestSeccompProbesCoverTheDenyList(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("probe numbers are amd64's")
	}
	probed := map[uint32]syscall.Errno{}
	for _, p := range amd64Probes {
		probed[p.nr] = p.want
	}
	for _, d := range deniedSyscalls {
		if want, ok := probed[d.nr]; !ok || want != d.errno {
			t.Errorf("syscall %d (errno %v) is not probed for that errno", d.nr, d.errno)
		}
	}
}

func TestSeccompDeniesAsPID1(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("probe numbers are amd64's")
	}
	prefix := pid1Prefix(t)
	bin := buildProbe(t)
	run := func(seccomp bool) map[string]syscall.Errno {
		b := shBundle("")
		b["command"] = probeArgs(bin)
		b["seccomp"] = seccomp
		o := runLauncher(t, []string{"ISOBOX_BUNDLE_0=" + encodeBundle(t, b)}, prefix)
		expect(t, "probe exit", o.result(t, "run")["exit_code"], 0)
		return errnos(t, o.out("o"))
	}
	filtered, unfiltered := run(true), run(false)
	for _, p := range amd64Probes {
		if filtered[p.name] != p.want {
			t.Errorf("%s: errno %d (%v) under the filter, want %d (%v)", p.name,
				int(filtered[p.name]), filtered[p.name], int(p.want), p.want)
		}
		// Proof that the filter, not the kernel, answered (x32 may be off).
		if p.want != 0 && p.name != "x32_getpid" && unfiltered[p.name] == p.want {
			t.Errorf("%s: errno %v without the filter too", p.name, p.want)
		}
	}
}

func TestSeccompLeavesOrdinaryProgramsWorking(t *testing.T) {
	needPython(t)
	cases := map[string]string{
		"sh":      "echo sh-ok | cat",
		"threads": `python3 -c 'import threading; t = threading.Thread(target=print, args=("thread-ok",)); t.start(); t.join()'`,
		"fork":    `python3 -c 'import os, sys; pid = os.fork(); os._exit(0) if pid == 0 else print("fork-ok", os.waitpid(pid, 0)[1])'`,
		"unshare": `python3 -c 'import ctypes; libc = ctypes.CDLL(None, use_errno=True); print(libc.unshare(0x10000000), ctypes.get_errno())'`,
	}
	want := map[string]string{"sh": "sh-ok\n", "threads": "thread-ok\n", "fork": "fork-ok 0\n", "unshare": "-1 1\n"}
	for name, script := range cases {
		o := runBundle(t, shBundle(script), 65536)
		expect(t, name, o.out("o"), want[name])
		expect(t, name+" stderr", o.out("e"), "")
	}
}

func TestSeccompCompiledProgram(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	b := shBundle("./hello")
	b["files"] = []map[string]string{{"path": "hello.c", "content_b64": "I2luY2x1ZGUgPHN0ZGlvLmg+CmludCBtYWluKHZvaWQpIHsgcHV0cygiaGVsbG8iKTsgcmV0dXJuIDA7IH0K"}}
	b["compile"] = map[string]any{"command": []string{"gcc", "-o", "hello", "hello.c"}, "timeout_ms": 20000}
	o := runBundle(t, b, 65536)
	expect(t, "compile exit", o.result(t, "compile")["exit_code"], 0)
	expect(t, "stdout", o.out("o"), "hello\n")
}

func TestSeccompFilterShape(t *testing.T) {
	prog, err := seccompProgram()
	if err != nil {
		t.Skip(err)
	}
	if len(prog) > 4096 || prog[len(prog)-1] != stmt(bpfRET|bpfK, retAllow) {
		t.Errorf("filter of %d instructions, last %+v", len(prog), prog[len(prog)-1])
	}
	for i, in := range prog { // every jump lands inside the program
		if in.code&0x07 == bpfJMP && (i+1+int(in.jt) >= len(prog) || i+1+int(in.jf) >= len(prog)) {
			t.Errorf("instruction %d jumps out: %+v", i, in)
		}
	}
}
