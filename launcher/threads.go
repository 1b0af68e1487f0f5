package main

import (
	"runtime"
	"sync"
)

// reservedThreads is how many OS threads the launcher makes at its start.
const reservedThreads = 12

// reserveThreads makes the Go runtime start n OS threads now and keep them idle
// for later (it never ends an idle thread). The program shares the sandbox's
// task limit (cgroup pids, RLIMIT_NPROC of its uid); a fork bomb that reaches
// it would otherwise leave the runtime unable to start a thread when a
// goroutine blocks in a system call, which is fatal, and the run would end
// with no result frame.
func reserveThreads(n int) {
	var locked sync.WaitGroup
	release := make(chan struct{})
	locked.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			// A goroutine locked to its thread holds it, so each one needs a
			// thread of its own; unlocked again, the thread goes idle, not away.
			runtime.LockOSThread()
			locked.Done()
			<-release
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	close(release)
}
