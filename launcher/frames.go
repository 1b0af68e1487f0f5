package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"syscall"
)

// maxFrameBytes bounds the raw bytes carried by one o/e frame (one pipe read).
const maxFrameBytes = 32 << 10

// frameWriter serialises frames from both stream copiers onto one writer.
// Each frame is a single Write of a whole line, so frames never interleave and
// reach the reader as soon as they are produced (no buffering to flush).
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// data writes one "<tag> <base64>" frame.
func (fw *frameWriter) data(tag string, p []byte) error {
	head := len(tag) + 1
	line := make([]byte, head+base64.StdEncoding.EncodedLen(len(p))+1)
	copy(line, tag)
	line[head-1] = ' '
	base64.StdEncoding.Encode(line[head:], p)
	line[len(line)-1] = '\n'
	return fw.writeLine(line)
}

// result writes the "r {json}" frame that ends a stage.
func (fw *frameWriter) result(r Result) error {
	js, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line := append([]byte("r "), js...)
	return fw.writeLine(append(line, '\n'))
}

// record writes a "<tag> {json}" frame: d (cases done) and f (output file header).
func (fw *frameWriter) record(tag string, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	line := append([]byte(tag+" "), js...)
	return fw.writeLine(append(line, '\n'))
}

// Done is the payload of the d frame that ends a run with cases.
type Done struct {
	Cases   int  `json:"cases"`
	Ran     int  `json:"ran"`
	Stopped bool `json:"stopped"`
}

// FileHeader is the payload of an f frame; the file's fd frames follow it.
type FileHeader struct {
	Name      string `json:"name"`
	Size      int64  `json:"size"`
	Truncated bool   `json:"truncated"`
	// Sent is how many bytes of it the fd frames after this one carry.
	Sent int64 `json:"sent"`
	// Skipped, when set, says why a match was not sent (no fd frames follow).
	Skipped string `json:"skipped,omitempty"`
}

func (fw *frameWriter) writeLine(line []byte) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	_, err := fw.w.Write(line)
	return err
}

// Result is the JSON payload of an r frame; field order follows docs/design.md.
type Result struct {
	Stage string `json:"stage"`
	// Case is the index of the test case this run stage was (absent without cases).
	Case            *int    `json:"case,omitempty"`
	ExitCode        *int    `json:"exit_code"`
	Signal          *string `json:"signal"`
	TimedOut        bool    `json:"timed_out"`
	OOMKilled       bool    `json:"oom_killed"`
	StdoutTruncated bool    `json:"stdout_truncated"`
	StderrTruncated bool    `json:"stderr_truncated"`
	DurationMS      int64   `json:"duration_ms"`
	// CPUTimeMS and MemoryPeakKiB cover the stage's whole process tree, see docs/design.md.
	CPUTimeMS     int64 `json:"cpu_time_ms"`
	MemoryPeakKiB int64 `json:"memory_peak_kib"`
	// CPUTimeExceeded: the stage went past its CPU time limit.
	CPUTimeExceeded bool `json:"cpu_time_exceeded"`

	signum syscall.Signal // set when Signal is set
}

// setStatus records how the child ended.
func (r *Result) setStatus(ws syscall.WaitStatus) {
	if ws.Signaled() {
		name := signalName(ws.Signal())
		r.Signal, r.signum = &name, ws.Signal()
		return
	}
	code := ws.ExitStatus()
	r.ExitCode = &code
}

// exitStatus is the launcher's own exit code: the child's, or 128+signal.
func (r *Result) exitStatus() int {
	if r.ExitCode != nil {
		return *r.ExitCode
	}
	return 128 + int(r.signum)
}

// failed reports whether a case failed by what the launcher knows: anything but a
// clean exit 0 within every limit with its whole output (a wrong answer it cannot see).
func (r *Result) failed() bool {
	return !r.ok() || r.Signal != nil || r.OOMKilled || r.CPUTimeExceeded ||
		r.StdoutTruncated || r.StderrTruncated
}

// ok reports whether the stage succeeded, i.e. a following stage may run.
func (r *Result) ok() bool {
	return r.ExitCode != nil && *r.ExitCode == 0 && !r.TimedOut
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
	syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
	syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
	syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
	syscall.SIGSTKFLT: "SIGSTKFLT", syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT",
	syscall.SIGSTOP: "SIGSTOP", syscall.SIGTSTP: "SIGTSTP", syscall.SIGTTIN: "SIGTTIN",
	syscall.SIGTTOU: "SIGTTOU", syscall.SIGURG: "SIGURG", syscall.SIGXCPU: "SIGXCPU",
	syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGVTALRM: "SIGVTALRM", syscall.SIGPROF: "SIGPROF",
	syscall.SIGWINCH: "SIGWINCH", syscall.SIGIO: "SIGIO", syscall.SIGPWR: "SIGPWR",
	syscall.SIGSYS: "SIGSYS",
}

func signalName(sig syscall.Signal) string {
	if name, ok := signalNames[sig]; ok {
		return name
	}
	if sig >= 34 && sig <= 64 { // glibc's SIGRTMIN is 34
		return "SIGRT" + strconv.Itoa(int(sig))
	}
	return "SIG" + strconv.Itoa(int(sig))
}
