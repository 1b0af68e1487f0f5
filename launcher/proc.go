package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// killAll kills every process of the run. As PID 1 (a container's init) that
// is everything else in the PID namespace, which also catches processes that
// left the group with setsid; otherwise it is the child's process group.
func killAll(pgid int) {
	if os.Getpid() == 1 {
		syscall.Kill(-1, syscall.SIGKILL)
		return
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// Memory cgroup files that count OOM kills ("oom_kill N"), v2 first.
var oomCounterFiles = []string{
	"/sys/fs/cgroup/memory.events",
	"/sys/fs/cgroup/memory/memory.oom_control",
}

// readOOMKills returns the cgroup's oom_kill counter, or -1 if unavailable.
func readOOMKills() int64 {
	for _, name := range oomCounterFiles {
		if n, ok := readCounter(name, "oom_kill"); ok {
			return n
		}
	}
	return -1
}

func readCounter(file, key string) (int64, bool) {
	f, err := os.Open(file)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == key {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// makeUndumpable stops processes of the same uid (the sandboxed code runs as
// the launcher's uid) from ptracing the launcher or reading its /proc files:
// they could otherwise forge result frames or read the original environment.
func makeUndumpable() {
	const prSetDumpable = 4
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetDumpable, 0, 0)
}
