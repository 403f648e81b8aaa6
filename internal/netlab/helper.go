package netlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Environment of a helper process.
const (
	envHelper     = "NATX_NETLAB_HELPER"
	envHelperArgs = "NATX_NETLAB_HELPER_ARGS"
)

// HelperFunc is code that runs as a whole process inside a namespace. It
// reads its arguments, may print lines to stdout for the parent test to read,
// and returns an error to exit non-zero.
type HelperFunc func(args []string) error

// Helper serves the helper named by the environment, when this test binary
// was started by HelperCommand; in a normal run it returns at once. Call it
// from a test function, conventionally:
//
//	func TestNetlabHelper(t *testing.T) { netlab.Helper(t, helpers) }
//
// In helper mode it runs the function and exits the process, printing
// nothing of the testing framework's own.
func Helper(t *testing.T, helpers map[string]HelperFunc) {
	name := os.Getenv(envHelper)
	if name == "" {
		t.Skip("netlab: not a helper process")
	}
	f, ok := helpers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "netlab: unknown helper %q\n", name)
		os.Exit(2)
	}
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(envHelperArgs)), &args); err != nil {
		fmt.Fprintf(os.Stderr, "netlab: helper args: %v\n", err)
		os.Exit(2)
	}
	if err := f(args); err != nil {
		fmt.Fprintf(os.Stderr, "netlab: helper %s: %v\n", name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// HelperCommand returns a command that re-runs this test binary inside the
// namespace, where the test named testName calls Helper and runs the helper
// called name with args. Start it with Lab.Start to have it tracked.
func (n *Namespace) HelperCommand(ctx context.Context, testName, name string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	cmd := n.Command(ctx, exe, "-test.run=^"+testName+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+name, envHelperArgs+"="+string(a))
	return cmd, nil
}
