package main

import (
	"os"
	"os/signal"
	"syscall"
)

// absorbSignals makes the launcher immune to every signal a process in its
// sandbox can send it, for when it is PID 1.
//
// The kernel's protection of init does not hold for the launcher: it only
// drops signals for which init has no handler, and the Go runtime installs
// one for every signal, whose default action is mostly to exit. The program
// could then kill the launcher (kill -TERM 1) and leave no result frame. So
// every signal is relayed to a channel nobody reads: os/signal drops what
// does not fit, which absorbs the signal. signal.Ignore would be wrong, as
// SIG_IGN is inherited across exec by the program. SIGKILL from outside the
// PID namespace still ends the launcher, which is how backends stop it.
func absorbSignals() {
	signal.Notify(make(chan os.Signal, 1))
}

// stopSignals returns the channel on which the launcher learns that it is
// asked to stop the run: SIGTERM, SIGINT or SIGHUP when it is not PID 1, never
// (nil) when it is.
func stopSignals(asInit bool) <-chan os.Signal {
	if asInit {
		return nil
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	return stop
}
