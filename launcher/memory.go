package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"time"
)

// memoryPollInterval is how often a stage's memory is measured against its own
// limit. Between two polls a stage can overshoot (the sandbox's kernel limit,
// sized for the largest stage, still bounds it), and one that ends before the
// next poll is caught by its peak resident set when it is reaped.
//
// Sampling was chosen over RLIMIT_DATA and RLIMIT_AS, which count memory that
// is committed or reserved but never touched: a JVM's hello world has some
// 400 MiB of data segment for 17 MiB resident, and would not start under a
// limit that a cgroup (counting resident memory) lets it run in.
const memoryPollInterval = 10 * time.Millisecond

// memoryWatch reports on the returned channel once the anonymous resident
// memory of the stage started as pid exceeds limit bytes, then stops. It
// stops silently when done is closed.
//
// The kernel's memory limit covers the whole sandbox, sized for its largest
// stage; this is how a smaller stage (usually the compile step's or the
// program's) is held to its own limit inside it.
func memoryWatch(pid int, limit int64, done <-chan struct{}) <-chan struct{} {
	over := make(chan struct{}, 1)
	go func() {
		ticker := time.NewTicker(memoryPollInterval)
		defer ticker.Stop()
		for {
			select {
			case <-done:
				return
			case <-ticker.C:
				if stageMemory(pid) > limit {
					over <- struct{}{}
					return
				}
			}
		}
	}()
	return over
}

// stageMemory sums RssAnon and RssShmem over the stage's processes: heap,
// stacks and shared memory, the memory a program controls, without counting
// shared library pages once per process. As PID 1 the stage is everything else in the PID namespace (as in
// killAll); otherwise it is pid's process group.
func stageMemory(pid int) int64 {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	self, asInit := os.Getpid(), os.Getpid() == 1
	var total int64
	for _, entry := range entries {
		p, err := strconv.Atoi(entry.Name())
		if err != nil || p == self {
			continue
		}
		if !asInit && p != pid && processGroup(p) != pid {
			continue
		}
		total += programMemoryBytes(p)
	}
	return total
}

// processGroup reads the pgrp field of /proc/<p>/stat (-1 if unreadable).
func processGroup(p int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return -1
	}
	fields := bytes.Fields(data[end+1:])
	if len(fields) < 3 {
		return -1
	}
	pgrp, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return -1
	}
	return pgrp
}

// programMemoryBytes reads RssAnon + RssShmem from /proc/<p>/status (0 for
// kernel threads and processes that are gone).
func programMemoryBytes(p int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(p) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		for _, key := range [][]byte{[]byte("RssAnon:"), []byte("RssShmem:")} {
			if bytes.HasPrefix(line, key) {
				total += kibField(line[len(key):]) * 1024
			}
		}
	}
	return total
}

func kibField(rest []byte) int64 {
	fields := bytes.Fields(rest)
	if len(fields) == 0 {
		return 0
	}
	kib, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return 0
	}
	return kib
}
