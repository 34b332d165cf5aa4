//go:build linux

package rediscluster

import "syscall"

// sysProcAttr makes the kernel kill a server when the test binary dies without running its
// cleanups (a timeout panic, a SIGKILL), so that no redis-server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
