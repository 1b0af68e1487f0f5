package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// A warm sandbox starts before its run is known: with no ISOBOX_BUNDLE_0 the
// launcher checks isolation, says "w ready" and reads the bundle from stdin.
const (
	readyFrame       = "w ready\n"
	maxStdinBundle   = 16 << 20 // base64 characters, excluding the newline
	envProbes        = "ISOBOX_ISOLATION_PROBES"
	envIsolationWait = "ISOBOX_ISOLATION_WAIT_MS"
	envBundleWait    = "ISOBOX_BUNDLE_WAIT_MS"
)

// loadBundle takes the bundle from the environment or, in a warm sandbox,
// from stdin once isolation is in force. Either way every ISOBOX_* variable
// is gone from the environment before it returns.
func loadBundle() (*Bundle, error) {
	private := takePrivateEnv()
	if encoded, ok := envBundle(private); ok {
		return decodeBundle(encoded)
	}
	probes := splitList(private[envProbes])
	isolationWait, err := envMillis(private, envIsolationWait)
	if err != nil {
		return nil, err
	}
	bundleWait, err := envMillis(private, envBundleWait)
	if err != nil {
		return nil, err
	}
	if err := awaitIsolation(probes, isolationWait); err != nil {
		return nil, err
	}
	if _, err := os.Stdout.WriteString(readyFrame); err != nil {
		return nil, err
	}
	encoded, err := readBundleLine(os.Stdin, maxStdinBundle, bundleWait)
	if err != nil {
		return nil, err
	}
	return decodeBundle(encoded)
}

// readBundleLine reads one line of at most limit bytes, ended by a newline or
// EOF, within wait (0: no deadline). A read blocked past the deadline is left
// behind: the launcher exits right after.
func readBundleLine(r io.Reader, limit int64, wait time.Duration) (string, error) {
	type line struct {
		data []byte
		err  error
	}
	got := make(chan line, 1)
	go func() {
		data, err := bufio.NewReader(io.LimitReader(r, limit+1)).ReadBytes('\n')
		got <- line{data, err}
	}()
	var deadline <-chan time.Time
	if wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		deadline = timer.C
	}
	select {
	case l := <-got:
		return checkBundleLine(l.data, l.err, limit)
	case <-deadline:
		return "", fmt.Errorf("no bundle within %v on stdin", wait)
	}
}

func checkBundleLine(data []byte, err error, limit int64) (string, error) {
	text := strings.TrimSuffix(string(data), "\n")
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("reading the bundle from stdin: %w", err)
	case int64(len(text)) > limit:
		return "", fmt.Errorf("bundle on stdin exceeds %d bytes", limit)
	case text == "":
		return "", errors.New("no bundle: " + bundleEnvPrefix + "0 is not set and stdin ended without one")
	}
	return text, nil
}

// envMillis reads a duration in milliseconds; absent is 0, invalid an error.
func envMillis(private map[string]string, name string) (time.Duration, error) {
	value, ok := private[name]
	if !ok || value == "" {
		return 0, nil
	}
	ms, err := strconv.ParseInt(value, 10, 64)
	if err != nil || ms < 0 || ms > maxTimeoutMS {
		return 0, fmt.Errorf("%s=%q is not a number of milliseconds", name, value)
	}
	return millis(ms), nil
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var items []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
