package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

const (
	probeTimeout  = 300 * time.Millisecond
	probeInterval = 250 * time.Millisecond
)

// awaitIsolation waits until no probe address accepts a TCP connection, so that no user code
// runs before the sandbox's network policy is in force (enforcers such as kube-router apply
// it asynchronously, after the pod has started). It fails closed after wait.
func awaitIsolation(probes []string, wait time.Duration) error {
	targets := expandProbes(probes)
	if len(targets) == 0 {
		return nil
	}
	deadline := time.Now().Add(wait)
	for {
		open := reachable(targets)
		if open == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("network isolation not in force after %v: %s still accepts connections "+
				"(does the cluster's network plugin enforce NetworkPolicy?)", wait, open)
		}
		time.Sleep(probeInterval)
	}
}

// expandProbes resolves $VARS and drops addresses whose variables are unset.
func expandProbes(probes []string) []string {
	var targets []string
	for _, probe := range probes {
		address := os.ExpandEnv(probe)
		host, port, err := net.SplitHostPort(address)
		if err == nil && host != "" && port != "" {
			targets = append(targets, address)
		}
	}
	return targets
}

// reachable returns the first target that accepts a connection, or "".
func reachable(targets []string) string {
	for _, target := range targets {
		conn, err := net.DialTimeout("tcp", target, probeTimeout)
		if err == nil {
			conn.Close()
			return target
		}
	}
	return ""
}
