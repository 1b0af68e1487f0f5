package main

import (
	"syscall"
	"time"
)

// watchdog samples a running stage (see samplePeriod): it keeps the stage's
// peak memory and reports once the stage goes past its own memory limit or
// its CPU limit. RLIMIT_CPU holds each process; only the sum over the tree
// holds a program that forks to spread its work.
type watchdog struct {
	over    chan killReason
	quit    chan struct{}
	stopped chan struct{}
	peak    int64 // bytes; final once stop has returned
	// oomKills counts processes the stage's own memory limit killed, the way
	// the kernel's OOM killer would have: final once stop has returned.
	oomKills int
}

// record keeps the largest of the samples' sums and of their processes' VmHWM.
func (w *watchdog) record(s sample) {
	w.peak = maxInt64(w.peak, maxInt64(s.memory, s.hwm))
}

// cpuBase is RUSAGE_CHILDREN's CPU time when the stage started.
func startWatchdog(pid int, st stage, cpuBase time.Duration, rp *reaper) *watchdog {
	w := &watchdog{over: make(chan killReason, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	go w.loop(pid, st, cpuBase, rp)
	return w
}

func (w *watchdog) loop(pid int, st stage, cpuBase time.Duration, rp *reaper) {
	defer close(w.stopped)
	period := samplePeriod
	if st.memory > 0 {
		period = memoryLimitPeriod
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-ticker.C:
		}
		var s sample
		var reaped time.Duration
		// Under the reaper's lock no process moves from /proc to
		// RUSAGE_CHILDREN half-way through the look.
		rp.locked(func() { reaped, s = childrenCPU()-cpuBase, sampleStage(pid) })
		w.record(s)
		why := st.over(s.memory, reaped+s.cpu)
		if why == killedOverMemory && s.largest != 0 && s.largest != pid {
			// As the kernel would at the sandbox's own limit: the largest process
			// goes, the stage lives on (a parent may survive its child's OOM).
			syscall.Kill(s.largest, syscall.SIGKILL)
			w.oomKills++
			continue
		}
		if why != notKilled {
			w.over <- why
			return
		}
	}
}

// stop ends the sampling and returns the peak memory seen, in bytes.
func (w *watchdog) stop() int64 {
	close(w.quit)
	<-w.stopped
	return w.peak
}

// over tells whether a stage using memory bytes and cpu must be killed.
func (st stage) over(memory int64, cpu time.Duration) killReason {
	switch {
	case st.memory > 0 && memory > st.memory:
		return killedOverMemory
	case st.cpu > 0 && cpu > st.cpu:
		return killedOverCPU
	}
	return notKilled
}
