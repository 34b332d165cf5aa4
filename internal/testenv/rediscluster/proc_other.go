//go:build !linux

package rediscluster

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
