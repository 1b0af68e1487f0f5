package main

import "syscall"

const (
	auditArch      = 0xc00000b7 // AUDIT_ARCH_AARCH64
	hasX32         = false
	sysSeccomp     = 277
	sysClone       = 220
	sysPersonality = 92
)

// deniedSyscalls: arm64 numbers (asm-generic/unistd.h); see docs/design.md.
// arm64 has no iopl, ioperm or uselib.
var deniedSyscalls = []struct {
	nr    uint32
	errno syscall.Errno
}{
	{425, syscall.EPERM}, {426, syscall.EPERM}, {427, syscall.EPERM}, // io_uring_setup, _enter, _register
	{217, syscall.EPERM}, {218, syscall.EPERM}, {219, syscall.EPERM}, // add_key, request_key, keyctl
	{280, syscall.EPERM},                     // bpf
	{241, syscall.EPERM},                     // perf_event_open
	{282, syscall.EPERM},                     // userfaultfd
	{40, syscall.EPERM}, {39, syscall.EPERM}, // mount, umount2
	{41, syscall.EPERM},                        // pivot_root
	{428, syscall.EPERM}, {429, syscall.EPERM}, // open_tree, move_mount
	{430, syscall.EPERM}, {431, syscall.EPERM}, // fsopen, fsconfig
	{432, syscall.EPERM}, {433, syscall.EPERM}, // fsmount, fspick
	{442, syscall.EPERM},                      // mount_setattr
	{97, syscall.EPERM}, {268, syscall.EPERM}, // unshare, setns
	{435, syscall.ENOSYS},                      // clone3: flags out of reach, so libc falls back to clone
	{104, syscall.EPERM}, {294, syscall.EPERM}, // kexec_load, kexec_file_load
	{105, syscall.EPERM}, {273, syscall.EPERM}, // init_module, finit_module
	{106, syscall.EPERM},                       // delete_module
	{224, syscall.EPERM}, {225, syscall.EPERM}, // swapon, swapoff
	{142, syscall.EPERM},                      // reboot
	{89, syscall.EPERM},                       // acct
	{60, syscall.EPERM}, {443, syscall.EPERM}, // quotactl, quotactl_fd
	{18, syscall.EPERM},                        // lookup_dcookie
	{264, syscall.EPERM}, {265, syscall.EPERM}, // name_to_handle_at, open_by_handle_at
	{116, syscall.EPERM}, // syslog
}
