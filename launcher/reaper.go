package main

import (
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// reaper collects exit statuses on SIGCHLD. As PID 1 it must also reap the
// orphans the kernel re-parents to it (else they stay zombies), so it waits for
// any pid. Otherwise it waits only for the pids it started, so it never steals
// the status of a child someone else in this process (e.g. a test) started.
type reaper struct {
	mu      sync.Mutex
	reapAny bool
	watched map[int]chan exit
	peakRSS int64 // largest ru_maxrss, in bytes, of unwatched processes reaped since takePeakRSS
}

// exit is how a watched child ended.
type exit struct {
	status syscall.WaitStatus
	// peakRSS is the largest resident set, in bytes, of the child or of any
	// descendant it waited for (getrusage's ru_maxrss). The kernel counts the
	// launcher's own resident set in it too: see ownPeak.
	peakRSS int64
}

func newReaper(reapAny bool) *reaper {
	r := &reaper{reapAny: reapAny, watched: map[int]chan exit{}}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	go func() {
		for range sigs {
			r.reap()
		}
	}()
	return r
}

// start runs fork (which returns the new pid) under the reaper's lock, so the
// pid is watched before the reaper can possibly collect its status.
func (r *reaper) start(fork func() (int, error)) (int, <-chan exit, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := fork()
	if err != nil {
		return 0, nil, err
	}
	done := make(chan exit, 1)
	r.watched[pid] = done
	return pid, done, nil
}

// reap collects every exited child it is responsible for without blocking.
func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reapAny {
		for got, _ := r.waitOne(-1); got > 0; got, _ = r.waitOne(-1) {
		}
		return
	}
	for pid := range r.watched {
		r.waitOne(pid)
	}
}

// waitOne does one non-blocking wait4 and hands the status to its watcher.
func (r *reaper) waitOne(pid int) (int, error) {
	var ws syscall.WaitStatus
	var usage syscall.Rusage
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, &usage)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || got <= 0 {
			return 0, err
		}
		rss := int64(usage.Maxrss) * 1024 // Maxrss is in KiB
		if done, ok := r.watched[got]; ok {
			done <- exit{status: ws, peakRSS: rss}
			delete(r.watched, got)
		} else if rss > r.peakRSS {
			r.peakRSS = rss
		}
		return got, nil
	}
}

// settle reaps, as PID 1, until no child is left (they were all just killed)
// or wait has passed, so that their CPU time is in RUSAGE_CHILDREN. Not PID 1
// the launcher only has the stage's main process, already reaped.
func (r *reaper) settle(wait time.Duration) {
	deadline := time.Now().Add(wait)
	for r.reapAny && time.Now().Before(deadline) {
		r.mu.Lock()
		got, err := r.waitOne(-1)
		r.mu.Unlock()
		if err == syscall.ECHILD {
			return
		}
		if got == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// locked runs f while no child can be reaped.
func (r *reaper) locked(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
}

// takePeakRSS returns the largest ru_maxrss of the orphans reaped since the
// last call, and starts over.
func (r *reaper) takePeakRSS() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	peak := r.peakRSS
	r.peakRSS = 0
	return peak
}
