package main

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// How often the watchdog looks at a stage's live processes: their memory
// against the stage's own limit and for its peak, their CPU time against the
// stage's CPU limit. Between two looks a stage can overshoot (the sandbox's
// kernel limits, sized for the largest stage, still bound it), and one that
// ends before the next look is caught by what the kernel counted when it was
// reaped (ru_maxrss, RUSAGE_CHILDREN).
//
// A look is cheap (one /proc scan, two small files per process), but waking
// up is not: on a 2-core VM, sampling `sleep 3` cost the launcher a median
// 140 ms of CPU at 10 ms, 34 ms at 50 ms and 8 ms without sampling. Hence
// the fast period only for a stage with its own memory limit, where a late
// look lets it overshoot more.
//
// Sampling was chosen over RLIMIT_DATA and RLIMIT_AS, which count memory that
// is committed or reserved but never touched: a JVM's hello world has some
// 400 MiB of data segment for 17 MiB resident, and would not start under a
// limit that a cgroup (counting resident memory) lets it run in.
const (
	samplePeriod      = 50 * time.Millisecond
	memoryLimitPeriod = 10 * time.Millisecond
)

// clockTick is the unit of the CPU times in /proc/<pid>/stat (USER_HZ, 100 on
// every Linux architecture).
const clockTick = 10 * time.Millisecond

// sample is one look at a stage's live processes (the launcher excluded). As
// PID 1 the stage is everything else in the PID namespace (as in killAll);
// otherwise it is the main process and its process group.
type sample struct {
	// memory sums RssAnon and RssShmem: heap, stacks and shared memory, the
	// memory a program controls, without counting shared library pages once
	// per process.
	memory int64
	// hwm is the largest VmHWM, the peak resident set of one process since
	// its exec (file pages included, like ru_maxrss).
	hwm int64
	// largest is the process using the most memory, the one the kernel's OOM
	// killer would pick (0: none seen).
	largest       int
	largestMemory int64
	// cpu is the user+system time of the processes and of the children they
	// reaped themselves; what the launcher reaped is in RUSAGE_CHILDREN.
	cpu time.Duration
}

func sampleStage(pid int) sample {
	names, err := procEntries()
	if err != nil {
		return sample{}
	}
	self, asInit := os.Getpid(), os.Getpid() == 1
	buf := make([]byte, 8192)
	var s sample
	for _, name := range names {
		p, err := strconv.Atoi(name)
		if err != nil || p == self {
			continue
		}
		st, ok := readProcStat(p, buf)
		if !ok || (!asInit && p != pid && st.pgrp != pid) {
			continue
		}
		s.cpu += st.cpu
		memory, hwm := readMemory(p, buf)
		s.memory += memory
		s.hwm = maxInt64(s.hwm, hwm)
		if memory > s.largestMemory {
			s.largest, s.largestMemory = p, memory
		}
	}
	return s
}

func procEntries() ([]string, error) {
	dir, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return dir.Readdirnames(-1)
}

// readProc reads /proc/<p>/<file> into buf with bare system calls: this runs
// for every process every samplePeriod, and os.File would also try to add
// each file to the poller.
func readProc(p int, file string, buf []byte) []byte {
	fd, err := syscall.Open("/proc/"+strconv.Itoa(p)+"/"+file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	if err != nil || n <= 0 {
		return nil
	}
	return buf[:n]
}

// procStat holds the fields of /proc/<pid>/stat the launcher uses.
type procStat struct {
	pgrp int
	cpu  time.Duration // utime + stime + cutime + cstime
}

func readProcStat(p int, buf []byte) (procStat, bool) {
	data := readProc(p, "stat", buf)
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, false
	}
	fields := bytes.Fields(data[end+1:]) // fields[0] is the state, field 3 of proc(5)
	if len(fields) < 15 {
		return procStat{}, false
	}
	pgrp, err := strconv.Atoi(string(fields[2]))
	if err != nil {
		return procStat{}, false
	}
	var ticks int64
	for _, f := range fields[11:15] {
		n, _ := strconv.ParseInt(string(f), 10, 64)
		ticks += n
	}
	return procStat{pgrp: pgrp, cpu: time.Duration(ticks) * clockTick}, true
}

// readMemory reads RssAnon + RssShmem and VmHWM from /proc/<p>/status, in
// bytes (0 for kernel threads and processes that are gone).
func readMemory(p int, buf []byte) (memory, hwm int64) {
	var rss int64
	split := false
	for _, line := range bytes.Split(readProc(p, "status", buf), []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("RssAnon:")), bytes.HasPrefix(line, []byte("RssShmem:")):
			memory += kibField(line) * 1024
			split = true
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			rss = kibField(line) * 1024
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			hwm = kibField(line) * 1024
		}
	}
	if !split {
		// gVisor's Sentry reports VmRSS only (no RssAnon/RssShmem, no VmHWM): the whole
		// resident set, file pages included, is then the best figure there is.
		memory, hwm = rss, maxInt64(hwm, rss)
	}
	return memory, hwm
}

// kibField parses "Name:   123 kB".
func kibField(line []byte) int64 {
	fields := bytes.Fields(line)
	if len(fields) < 2 {
		return 0
	}
	kib, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return kib
}

// childrenCPU is the user+system time of every child the launcher has reaped,
// and of the children they reaped (RUSAGE_CHILDREN).
func childrenCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ownPeak is the launcher's own peak resident set, in bytes. The kernel
// records the old address space's peak in a process's ru_maxrss at exec, and
// a child's old address space is the launcher's (vfork) or a copy of it: the
// main process's ru_maxrss says something about the program only when it is
// larger than this.
func ownPeak() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Maxrss) * 1024
}
