package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// killAll kills every process of the run started as pid. As PID 1 (a
// container's init) that is everything else in the PID namespace, which also
// catches processes that left the group with setsid; otherwise it is pid's
// process group, and pid itself in case it moved to another group.
func killAll(pid int) {
	if os.Getpid() == 1 {
		syscall.Kill(-1, syscall.SIGKILL)
		return
	}
	syscall.Kill(-pid, syscall.SIGKILL)
	syscall.Kill(pid, syscall.SIGKILL)
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

// defaultPath is what execvp(3) searches when PATH is unset.
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// lookPath resolves name like execvp(3) but with the child's PATH, not ours.
// Names with a slash are returned as-is: exec resolves them after chdir(dir).
func lookPath(name string, env map[string]string, dir string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv, ok := env["PATH"]
	if !ok {
		pathEnv = defaultPath
	}
	for _, entry := range filepath.SplitList(pathEnv) {
		if entry == "" {
			entry = "."
		}
		candidate := filepath.Join(entry, name)
		if !filepath.IsAbs(candidate) {
			candidate = filepath.Join(dir, candidate)
		}
		if isExecutable(candidate) {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%q: executable file not found in $PATH", name)
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	if err != nil || !info.Mode().IsRegular() {
		return false
	}
	const xOK = 1
	return syscall.Access(path, xOK) == nil
}
