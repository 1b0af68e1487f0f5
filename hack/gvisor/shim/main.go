// Command containerd-shim-runsc-v1 is gVisor's containerd shim (gvisor.dev/gvisor/pkg/shim/v1,
// the version pinned in go.mod) with one change in how the shim daemon is started.
//
// gVisor's own Start sets the daemon's oom_score_adj to -999. Lowering an OOM score needs
// CAP_SYS_RESOURCE, which root does not have on these VMs (it is missing from the bounding set),
// so the unmodified shim fails every start with
//
//	failed to set OOM Score on shim: write /proc/<pid>/oom_score_adj: permission denied
//
// Here the daemon gets containerd's score + 1 instead (shim.AdjustOOMScore, what containerd's
// own runc shim does; raising a score is always allowed). Everything else (the task service,
// runsc invocation, Stop, Info) is gVisor's code, unchanged. Shim grouping (the "grouping"
// option of the shim's config.toml) is not supported by this Start and is refused.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/shim"
	"golang.org/x/sys/unix"
	shimv1 "gvisor.dev/gvisor/pkg/shim/v1"
	_ "gvisor.dev/gvisor/pkg/shim/v1/plugin" // registers the runsc task service
	"gvisor.dev/gvisor/pkg/shim/v1/runsc"
)

type manager struct {
	shim.Manager // gVisor's manager: Name, Stop, Info
}

func (m manager) Start(ctx context.Context, id string, opts shim.StartOpts) (_ shim.BootstrapParams, retErr error) {
	if o := runsc.GetRuntimeOptions(); o != nil && o.Grouping {
		return shim.BootstrapParams{}, fmt.Errorf("isobox runsc shim: shim grouping is not supported")
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	self, err := os.Executable()
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	cwd, err := os.Getwd() // the bundle directory
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	address, err := shim.SocketAddress(ctx, opts.Address, id, opts.Debug)
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	params := shim.BootstrapParams{Version: 2, Address: address, Protocol: "ttrpc"}

	socket, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return shim.BootstrapParams{}, fmt.Errorf("create shim socket: %w", err)
		}
		if shim.CanConnect(address) { // a daemon for this id already serves it
			return params, os.WriteFile("address", []byte(address), 0o644)
		}
		if err := shim.RemoveSocket(address); err != nil {
			return shim.BootstrapParams{}, fmt.Errorf("remove stale shim socket: %w", err)
		}
		if socket, err = shim.NewSocket(address); err != nil {
			return shim.BootstrapParams{}, fmt.Errorf("create shim socket: %w", err)
		}
	}
	defer func() {
		if retErr != nil {
			socket.Close()
			_ = shim.RemoveSocket(address)
		}
	}()
	file, err := socket.File()
	if err != nil {
		return shim.BootstrapParams{}, err
	}
	defer file.Close()

	args := []string{"-namespace", ns, "-address", opts.Address, "-id", id}
	if opts.Debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.ExtraFiles = []*os.File{file} // fd 3: the listening socket
	if err := cmd.Start(); err != nil {
		return shim.BootstrapParams{}, err
	}
	defer func() {
		if retErr != nil {
			_ = cmd.Process.Kill()
		}
	}()
	go func() { _ = cmd.Wait() }()
	if err := shim.WritePidFile("shim.pid", cmd.Process.Pid); err != nil {
		return shim.BootstrapParams{}, err
	}
	if err := os.WriteFile("address", []byte(address), 0o644); err != nil {
		return shim.BootstrapParams{}, err
	}
	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		return shim.BootstrapParams{}, fmt.Errorf("adjust the shim's OOM score: %w", err)
	}
	return params, nil
}

func main() {
	shim.Run(context.Background(), manager{shimv1.NewShimManager("io.containerd.runsc.v1")})
}
