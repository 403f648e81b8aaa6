//go:build !linux

// This file lets the lab build where it cannot run: network namespaces are
// Linux's. Available reports false here, so New skips (or fails under
// NATX_LAB=require) before any of these is reached.

package netlab

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
)

var errNotLinux = errors.New("netlab: network namespaces need Linux")

// Do fails: there are no network namespaces on this system.
func (n *Namespace) Do(f func() error) error { return errNotLinux }

// Command returns a command that would run inside the namespace.
func (n *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name, name}, args...)...)
}

func killPID(int) {}

func signalGroup(int, syscall.Signal) error { return errNotLinux }
