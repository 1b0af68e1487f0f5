package main

import "syscall"

const (
	auditArch      = 0xc000003e // AUDIT_ARCH_X86_64
	hasX32         = true
	sysSeccomp     = 317
	sysClone       = 56
	sysPersonality = 135
)

// deniedSyscalls: x86-64 numbers (asm/unistd_64.h); see docs/design.md.
var deniedSyscalls = []struct {
	nr    uint32
	errno syscall.Errno
}{
	{425, syscall.EPERM}, {426, syscall.EPERM}, {427, syscall.EPERM}, // io_uring_setup, _enter, _register
	{248, syscall.EPERM}, {249, syscall.EPERM}, {250, syscall.EPERM}, // add_key, request_key, keyctl
	{321, syscall.EPERM},                       // bpf
	{298, syscall.EPERM},                       // perf_event_open
	{323, syscall.EPERM},                       // userfaultfd
	{165, syscall.EPERM}, {166, syscall.EPERM}, // mount, umount2
	{155, syscall.EPERM},                       // pivot_root
	{428, syscall.EPERM}, {429, syscall.EPERM}, // open_tree, move_mount
	{430, syscall.EPERM}, {431, syscall.EPERM}, // fsopen, fsconfig
	{432, syscall.EPERM}, {433, syscall.EPERM}, // fsmount, fspick
	{442, syscall.EPERM},                       // mount_setattr
	{272, syscall.EPERM}, {308, syscall.EPERM}, // unshare, setns
	{435, syscall.ENOSYS},                      // clone3: flags out of reach, so libc falls back to clone
	{246, syscall.EPERM}, {320, syscall.EPERM}, // kexec_load, kexec_file_load
	{175, syscall.EPERM}, {313, syscall.EPERM}, // init_module, finit_module
	{176, syscall.EPERM},                       // delete_module
	{167, syscall.EPERM}, {168, syscall.EPERM}, // swapon, swapoff
	{169, syscall.EPERM},                       // reboot
	{163, syscall.EPERM},                       // acct
	{179, syscall.EPERM}, {443, syscall.EPERM}, // quotactl, quotactl_fd
	{212, syscall.EPERM},                       // lookup_dcookie
	{303, syscall.EPERM}, {304, syscall.EPERM}, // name_to_handle_at, open_by_handle_at
	{172, syscall.EPERM}, {173, syscall.EPERM}, // iopl, ioperm
	{103, syscall.EPERM}, // syslog
	{134, syscall.EPERM}, // uselib
}
