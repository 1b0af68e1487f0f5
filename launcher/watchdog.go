package main

import "time"

// watchdog samples a running stage (see samplePeriod): it keeps the stage's
// peak memory and reports once the stage goes past its own memory limit.
type watchdog struct {
	over    chan killReason
	quit    chan struct{}
	stopped chan struct{}
	peak    int64 // bytes; final once stop has returned
}

// record keeps the largest of the samples' sums and of their processes' VmHWM.
func (w *watchdog) record(s sample) {
	w.peak = maxInt64(w.peak, maxInt64(s.memory, s.hwm))
}

func startWatchdog(pid int, st stage, rp *reaper) *watchdog {
	w := &watchdog{over: make(chan killReason, 1), quit: make(chan struct{}), stopped: make(chan struct{})}
	go w.loop(pid, st, rp)
	return w
}

func (w *watchdog) loop(pid int, st stage, rp *reaper) {
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
		// Under the reaper's lock no process moves from /proc to
		// RUSAGE_CHILDREN half-way through the look.
		rp.locked(func() { s = sampleStage(pid) })
		w.record(s)
		if st.memory > 0 && s.memory > st.memory {
			w.over <- killedOverMemory
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
