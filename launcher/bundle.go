package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Defaults used when the bundle leaves a field out (zero). The service's policy
// always sets them; the defaults only keep a hand-written bundle usable.
const (
	defaultWorkdir     = "/workspace"
	defaultTimeoutMS   = 10000
	defaultOutputLimit = 1 << 20
	maxTimeoutMS       = 1 << 31 // ~24 days; keeps time.Duration from overflowing
	maxCases           = 1000
	defaultOutputFiles = 16
	defaultOutputBytes = 4 << 20
	bundleEnvPrefix    = "ISOBOX_BUNDLE_"
	privateEnvPrefix   = "ISOBOX_"
)

// Bundle is the launcher's whole input, see docs/design.md.
type Bundle struct {
	Workdir   string   `json:"workdir"`
	Files     []File   `json:"files"`
	Compile   *Compile `json:"compile"`
	Command   []string `json:"command"`
	StdinB64  string   `json:"stdin_b64"`
	TimeoutMS int64    `json:"timeout_ms"`
	// MemoryBytes holds the command to less memory than the sandbox has (0: no own limit).
	MemoryBytes int64             `json:"memory_bytes"`
	OutputLimit int64             `json:"output_limit"`
	Env         map[string]string `json:"env"`
	// IsolationProbes are "host:port" addresses ($VARS expanded from the launcher's own
	// environment) that must refuse a TCP connection before anything runs.
	IsolationProbes []string `json:"isolation_probes"`
	IsolationWaitMS int64    `json:"isolation_wait_ms"`
	// CPUTimeMS limits the run stage's whole process tree (0: no limit).
	CPUTimeMS int64 `json:"cpu_time_ms"`
	// MaxProcesses is the program's RLIMIT_NPROC (0: none); it counts every
	// task of the uid, so it is meant for a sandbox whose uid is its own.
	MaxProcesses int64 `json:"max_processes"`
	// Seccomp applies the launcher's seccomp filter to both stages; absent is true.
	Seccomp *bool `json:"seccomp"`
	// Cases, when not empty, run Command once per case (test cases, see cases.go), each
	// from a fresh copy of the work directory as it was before the first case.
	Cases []Case `json:"cases"`
	// StopOnFailure ends the cases at the first one that fails by its own report.
	StopOnFailure bool `json:"stop_on_failure"`
	// CasesOutputLimit bounds the stdout+stderr bytes of all cases together (0: none).
	CasesOutputLimit int64 `json:"cases_output_limit"`
	// CleanDirs are emptied before every case (the sandbox's /tmp).
	CleanDirs []string `json:"clean_dirs"`
	// Outputs are files collected from the work directory after the run stage.
	Outputs *Outputs `json:"outputs"`
}

// Case is one test case: its own stdin, and arguments appended to Command.
type Case struct {
	StdinB64 string   `json:"stdin_b64"`
	Args     []string `json:"args"`
}

// Outputs says which files to send back after the run stage (see outputs.go).
type Outputs struct {
	Globs    []string `json:"globs"`
	MaxFiles int      `json:"max_files"`
	MaxBytes int64    `json:"max_bytes"`
}

// File is one file to create under Workdir.
type File struct {
	Path       string `json:"path"`
	ContentB64 string `json:"content_b64"`
}

// Compile is the optional stage run before Command.
type Compile struct {
	Command     []string `json:"command"`
	TimeoutMS   int64    `json:"timeout_ms"`
	MemoryBytes int64    `json:"memory_bytes"`
	CPUTimeMS   int64    `json:"cpu_time_ms"`
}

// takePrivateEnv returns every ISOBOX_* variable and removes them all from
// the launcher's environment, so nothing started later can inherit them.
func takePrivateEnv() map[string]string {
	private := map[string]string{}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, privateEnvPrefix) {
			private[name] = value
			os.Unsetenv(name)
		}
	}
	return private
}

// envBundle concatenates ISOBOX_BUNDLE_0, _1, ... up to the first missing
// index; ok is false when there is no ISOBOX_BUNDLE_0 at all.
func envBundle(private map[string]string) (encoded string, ok bool) {
	var b strings.Builder
	for i := 0; ; i++ {
		chunk, found := private[fmt.Sprintf("%s%d", bundleEnvPrefix, i)]
		if !found {
			return b.String(), i > 0
		}
		b.WriteString(chunk)
	}
}

// decodeBundle parses the base64 JSON bundle, validates it and fills defaults.
func decodeBundle(encoded string) (*Bundle, error) {
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("bundle is not valid base64: %w", err)
	}
	var b Bundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("bundle is not valid JSON: %w", err)
	}
	if err := b.normalize(); err != nil {
		return nil, err
	}
	return &b, nil
}

func (b *Bundle) normalize() error {
	if len(b.Command) == 0 || b.Command[0] == "" {
		return errors.New("bundle has no command")
	}
	if b.Workdir == "" {
		b.Workdir = defaultWorkdir
	}
	if !filepath.IsAbs(b.Workdir) {
		return fmt.Errorf("workdir %q is not absolute", b.Workdir)
	}
	b.TimeoutMS = clampTimeout(b.TimeoutMS, defaultTimeoutMS)
	if b.OutputLimit <= 0 {
		b.OutputLimit = defaultOutputLimit
	}
	if b.Compile != nil && len(b.Compile.Command) == 0 {
		b.Compile = nil // an empty compile stage means "no compile stage"
	}
	if b.Compile != nil {
		b.Compile.TimeoutMS = clampTimeout(b.Compile.TimeoutMS, b.TimeoutMS)
	}
	if _, err := b.stdin(); err != nil {
		return err
	}
	if err := b.checkCases(); err != nil {
		return err
	}
	if err := b.checkOutputs(); err != nil {
		return err
	}
	if err := b.checkLimits(); err != nil {
		return err
	}
	return checkEnv(b.Env)
}

// checkLimits refuses negative limits rather than guess what they mean.
func (b *Bundle) checkLimits() error {
	limits := map[string]int64{"cpu_time_ms": b.CPUTimeMS, "max_processes": b.MaxProcesses}
	if b.Compile != nil {
		limits["compile.cpu_time_ms"] = b.Compile.CPUTimeMS
	}
	for name, v := range limits {
		if v < 0 || v > maxTimeoutMS {
			return fmt.Errorf("%s %d is out of range", name, v)
		}
	}
	return nil
}

// checkCases validates the test cases and the directories emptied between them.
func (b *Bundle) checkCases() error {
	if len(b.Cases) > maxCases {
		return fmt.Errorf("%d cases; the launcher runs at most %d", len(b.Cases), maxCases)
	}
	for i, c := range b.Cases {
		if _, err := base64.StdEncoding.DecodeString(c.StdinB64); err != nil {
			return fmt.Errorf("cases[%d].stdin_b64 is not valid base64: %w", i, err)
		}
		for _, arg := range c.Args {
			if strings.ContainsRune(arg, 0) {
				return fmt.Errorf("cases[%d].args has a NUL", i)
			}
		}
	}
	if b.CasesOutputLimit < 0 {
		return fmt.Errorf("cases_output_limit %d is out of range", b.CasesOutputLimit)
	}
	for _, dir := range b.CleanDirs {
		if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir || dir == "/" || dir == b.Workdir {
			return fmt.Errorf("clean_dirs entry %q is not an absolute directory below /", dir)
		}
	}
	return nil
}

// checkOutputs validates the output globs (lexically; matching never leaves the workdir).
func (b *Bundle) checkOutputs() error {
	o := b.Outputs
	if o == nil || len(o.Globs) == 0 {
		b.Outputs = nil
		return nil
	}
	if len(b.Cases) > 0 {
		return errors.New("outputs cannot be combined with cases")
	}
	if o.MaxFiles < 0 || o.MaxBytes < 0 {
		return errors.New("outputs limits are out of range")
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = defaultOutputFiles
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultOutputBytes
	}
	for _, glob := range o.Globs {
		if _, err := cleanRelPath(glob); err != nil {
			return fmt.Errorf("outputs glob %q: %w", glob, err)
		}
		if _, err := filepath.Match(glob, ""); err != nil {
			return fmt.Errorf("outputs glob %q: %w", glob, err)
		}
	}
	return nil
}

// clampTimeout replaces a missing (<= 0) timeout by def and caps huge ones.
func clampTimeout(ms, def int64) int64 {
	switch {
	case ms <= 0:
		return def
	case ms > maxTimeoutMS:
		return maxTimeoutMS
	}
	return ms
}

// argv is the command of case c: Command, then the case's own arguments.
func (b *Bundle) argv(c Case) []string {
	return append(append([]string{}, b.Command...), c.Args...)
}

// stdin returns the decoded stdin bytes.
func (b *Bundle) stdin() ([]byte, error) {
	data, err := base64.StdEncoding.DecodeString(b.StdinB64)
	if err != nil {
		return nil, fmt.Errorf("stdin_b64 is not valid base64: %w", err)
	}
	return data, nil
}

// checkEnv rejects names the kernel's "NAME=value" encoding cannot carry.
func checkEnv(env map[string]string) error {
	for name, value := range env {
		if name == "" || strings.ContainsAny(name, "=\x00") || strings.Contains(value, "\x00") {
			return fmt.Errorf("invalid env variable %q", name)
		}
	}
	return nil
}

// envList turns the bundle env into the exact, sorted environment of the child.
func envList(env map[string]string) []string {
	list := make([]string, 0, len(env))
	for name, value := range env {
		list = append(list, name+"="+value)
	}
	sort.Strings(list)
	return list
}
