package main

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// drainGrace bounds how long output is still read after the child exited and
// the rest of its processes were killed. It only matters when a process we
// could not kill (outside our process group, launcher not PID 1) keeps a pipe
// open; normally the pipes reach EOF at once.
const drainGrace = time.Second

// exitStartFailed is reported when the command cannot be started at all.
const exitStartFailed = 127

// stage is one child process to run: the optional compile or the command.
type stage struct {
	name    string // "compile" or "run", as in the r frame
	prefix  string // frame tag prefix: "c" for compile
	argv    []string
	stdin   []byte
	timeout time.Duration
	memory  int64         // the stage's own memory limit in bytes; 0: the sandbox's
	limit   int64         // output_limit per stream
	budget  *budget       // shared by every case's streams (cases_output_limit); nil: none
	cpu     time.Duration // CPU limit of the stage's tree; 0: none
	// restrict is applied to the stage's main process before its exec.
	restrict restrictions
}

// runner holds what every stage shares.
type runner struct {
	workdir string
	env     map[string]string
	frames  *frameWriter
	reaper  *reaper
	stop    <-chan os.Signal // SIGTERM & co sent to the launcher
}

// run executes one stage to completion and returns its result frame payload.
func (rn *runner) run(st stage) Result {
	res := Result{Stage: st.name}
	stdout := &stream{tag: st.prefix + "o", limit: st.limit, budget: st.budget, frames: rn.frames}
	stderr := &stream{tag: st.prefix + "e", limit: st.limit, budget: st.budget, frames: rn.frames}
	pipes, err := openStdio()
	if err != nil {
		return rn.startFailed(res, stderr, err)
	}
	start := time.Now()
	oomBefore, cpuBefore := readOOMKills(), childrenCPU()
	rn.reaper.takePeakRSS()
	pid, done, err := rn.reaper.start(func() (int, error) { return rn.fork(st, pipes) })
	pipes.closeChildEnds()
	if err != nil {
		pipes.closeParentEnds()
		return rn.startFailed(res, stderr, err)
	}
	launcherPeak := ownPeak() // after the exec, see ownPeak
	var copiers sync.WaitGroup
	copiers.Add(2)
	go stdout.copyFrom(pipes.outR, &copiers)
	go stderr.copyFrom(pipes.errR, &copiers)
	go feed(pipes.inW, st.stdin)

	dog := startWatchdog(pid, st, cpuBefore, rn.reaper)
	ended, why := rn.wait(pid, done, st, dog.over)
	res.DurationMS = time.Since(start).Milliseconds()
	sampledPeak := dog.stop()
	ownLimitKills := dog.oomKills
	killAll(pid) // the run is over when its main process exits: no leftovers
	drain(&copiers, pipes.outR, pipes.errR)
	rn.reaper.settle(drainGrace)
	childPeak := programPeak(ended, launcherPeak)
	rn.usage(&res, cpuBefore, maxInt64(sampledPeak, childPeak))

	ws := ended.status
	res.setStatus(ws)
	res.TimedOut = why == killedTimeout
	// Any OOM kill in the sandbox's cgroup during the stage, whichever process
	// it took: a program that outlives its child's OOM kill still hit the limit.
	kernelOOM := why == notKilled && oomBefore >= 0 && readOOMKills() > oomBefore
	// A stage can outgrow its own limit and end between two samples of the
	// watchdog; its peak still tells, as a judge's "memory limit exceeded".
	peakOver := st.memory > 0 && childPeak > st.memory
	res.OOMKilled = why == killedOverMemory || kernelOOM || peakOver || ownLimitKills > 0
	res.CPUTimeExceeded = st.cpu > 0 && (why == killedOverCPU || diedOf(ws, syscall.SIGXCPU) ||
		millis(res.CPUTimeMS) > st.cpu)
	res.StdoutTruncated, res.StderrTruncated = stdout.truncated, stderr.truncated
	return res
}

// programPeak is the main process's ru_maxrss when it tells something about
// the program, else 0: when it is not above the launcher's own peak, it is
// the launcher's (see ownPeak).
func programPeak(ended exit, launcherPeak int64) int64 {
	if ended.peakRSS <= launcherPeak {
		return 0
	}
	return ended.peakRSS
}

// usage fills in the stage's CPU time and peak memory, once its processes
// are all reaped; peak is the largest the launcher saw while it ran.
func (rn *runner) usage(res *Result, cpuBefore time.Duration, peak int64) {
	res.CPUTimeMS = (childrenCPU() - cpuBefore).Milliseconds()
	res.MemoryPeakKiB = maxInt64(peak, rn.reaper.takePeakRSS()) / 1024
}

// fork starts the stage's argv in workdir with exactly the bundle env, in a
// new process group, with the given pipes as its stdin/stdout/stderr, through
// the pre-exec helper when it has restrictions.
func (rn *runner) fork(st stage, pipes *stdio) (int, error) {
	argv := st.argv
	path, err := lookPath(argv[0], rn.env, rn.workdir)
	if err != nil {
		return 0, err
	}
	execPath, execArgv := path, argv
	if st.restrict.any() {
		execPath, execArgv = "/proc/self/exe", st.restrict.preExecArgv(path, argv)
	}
	attr := &syscall.ProcAttr{
		Dir:   rn.workdir,
		Env:   envList(rn.env),
		Files: []uintptr{pipes.inR.Fd(), pipes.outW.Fd(), pipes.errW.Fd()},
		Sys: &syscall.SysProcAttr{
			Setpgid:   true,
			Pdeathsig: syscall.SIGKILL, // if the launcher dies, so does the run
		},
	}
	pid, err := syscall.ForkExec(execPath, execArgv, attr)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", argv[0], err)
	}
	return pid, nil
}

// killReason tells why the launcher killed a stage, if it did.
type killReason int

const (
	notKilled killReason = iota
	killedTimeout
	killedOverMemory
	killedOverCPU
	killedStop // the launcher itself was asked to stop
)

// wait waits for the child, killing everything on timeout, when the watchdog
// finds it over a limit, or when the launcher is asked to stop.
func (rn *runner) wait(pid int, done <-chan exit, st stage, over <-chan killReason) (exit, killReason) {
	timer := time.NewTimer(st.timeout)
	defer timer.Stop()
	var why killReason
	select {
	case ended := <-done:
		return ended, notKilled
	case <-timer.C:
		why = killedTimeout
	case why = <-over:
	case <-rn.stop:
		why = killedStop
	}
	killAll(pid)
	return <-done, why
}

// startFailed reports a command that could not be started like a shell does:
// exit code 127 and the reason on the stage's stderr stream.
func (rn *runner) startFailed(res Result, stderr *stream, err error) Result {
	stderr.emit([]byte(fmt.Sprintf("isobox-launch: cannot start %v\n", err)))
	code := exitStartFailed
	res.ExitCode = &code
	res.StderrTruncated = stderr.truncated
	return res
}

func diedOf(ws syscall.WaitStatus, sig syscall.Signal) bool {
	return ws.Signaled() && ws.Signal() == sig
}

// feed writes the child's stdin then closes it so the child sees EOF. A child
// that exits without reading makes Write fail with EPIPE, which is fine.
func feed(w *os.File, data []byte) {
	if len(data) > 0 {
		w.Write(data)
	}
	w.Close()
}

// drain waits for the stream copiers to reach EOF, giving up after drainGrace.
func drain(copiers *sync.WaitGroup, readers ...*os.File) {
	finished := make(chan struct{})
	go func() {
		copiers.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(drainGrace):
		for _, r := range readers {
			r.SetReadDeadline(time.Now()) // unblocks the copier's Read
		}
		<-finished
	}
	for _, r := range readers {
		r.Close()
	}
}

// stream turns one child pipe into frames and enforces output_limit.
type stream struct {
	tag       string
	limit     int64
	budget    *budget
	frames    *frameWriter
	sent      int64
	truncated bool
}

// copyFrom reads until EOF (or the drain deadline). Past the limit it keeps
// reading and discarding, so the child never blocks on a full pipe.
func (s *stream) copyFrom(r *os.File, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, maxFrameBytes)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			s.emit(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// emit frames p, cut at the limit; anything beyond it marks the stream truncated.
func (s *stream) emit(p []byte) {
	if room := s.limit - s.sent; int64(len(p)) > room {
		s.truncated = true
		p = p[:room] // room >= 0: sent never exceeds limit
	}
	if s.budget != nil {
		if granted := s.budget.take(int64(len(p))); granted < int64(len(p)) {
			s.truncated = true
			p = p[:granted]
		}
	}
	if len(p) == 0 {
		return
	}
	s.sent += int64(len(p))
	s.frames.data(s.tag, p)
}

// budget is a byte allowance shared by several streams (both copiers use it at once).
type budget struct {
	mu   sync.Mutex
	left int64
}

// take grants up to n bytes of what is left.
func (b *budget) take(n int64) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		n = b.left
	}
	b.left -= n
	return n
}

// stdio holds the three pipes between the launcher and one child.
type stdio struct {
	inR, inW, outR, outW, errR, errW *os.File
}

func openStdio() (*stdio, error) {
	var s stdio
	var err error
	if s.inR, s.inW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if s.outR, s.outW, err = os.Pipe(); err != nil {
		s.inR.Close()
		s.inW.Close()
		return nil, err
	}
	if s.errR, s.errW, err = os.Pipe(); err != nil {
		s.closeChildEnds()
		s.closeParentEnds()
		return nil, err
	}
	return &s, nil
}

// closeChildEnds closes the launcher's copies of the child's ends, so EOF on
// stdout/stderr only depends on the child's processes.
func (s *stdio) closeChildEnds() {
	for _, f := range []*os.File{s.inR, s.outW, s.errW} {
		if f != nil {
			f.Close()
		}
	}
}

func (s *stdio) closeParentEnds() {
	for _, f := range []*os.File{s.inW, s.outR, s.errR} {
		if f != nil {
			f.Close()
		}
	}
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
