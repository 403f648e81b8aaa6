// This file holds what every natx program does with its command line: -h,
// bad flags, unexpected arguments, the -stun and -state syntax.

package cliflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/nodeconn/natx/internal/netaddr"
)

// STUNPort is the port of a -stun server given without one (RFC 8489).
const STUNPort = 3478

// Parse parses args with fs, the same way in every natx program. -h or
// -help prints the usage on stderr and returns help true: the program then
// exits 0. Any other problem (an unknown flag, a bad value, an argument
// after the flags) is returned, not printed: the program reports it once,
// as a JSON line when its output is JSON, else on stderr, and exits 2.
func Parse(fs *flag.FlagSet, args []string, stderr io.Writer) (help bool, err error) {
	fs.SetOutput(io.Discard) // the flag package would print the error and the usage
	err = fs.Parse(args)
	fs.SetOutput(stderr)
	if errors.Is(err, flag.ErrHelp) {
		if fs.Usage != nil {
			fs.Usage()
		} else {
			fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return false, nil
}

// BoolSet reports whether args set the bool flag name of fs to true, read
// the way fs.Parse reads them (up to "--" or the first argument that is not
// a flag, the last setting winning) but without stopping at a bad flag: a
// program asked for JSON reports in JSON even the command-line error met
// before -json. A flag fs does not know is taken to have no value.
func BoolSet(fs *flag.FlagSet, args []string, name string) bool {
	on := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' || a == "--" {
			break
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		key, value, hasValue := strings.Cut(a, "=")
		f := fs.Lookup(key)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if key == name {
				v, err := strconv.ParseBool(value)
				on = !hasValue || (err == nil && v)
			}
			continue
		}
		if !hasValue {
			i++ // the flag's value
		}
	}
	return on
}

// STUN returns one -stun value as host:port: a name, an IPv4 or an IPv6
// address, with the port STUNPort unless it has one (an IPv6 address with a
// port in brackets).
func STUN(s string) (string, error) {
	hp, err := netaddr.WithDefaultPort(strings.TrimSpace(s), STUNPort)
	if err != nil {
		return "", fmt.Errorf("-stun %q: %w", s, err)
	}
	return hp, nil
}

// STUNList returns STUN of every comma-separated part of every value of
// -stun, empty parts left out.
func STUNList(values ...string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			hp, err := STUN(part)
			if err != nil {
				return nil, err
			}
			out = append(out, hp)
		}
	}
	return out, nil
}

// StateUsage is the usage text of -state, the same in every program.
const StateUsage = "directory (it must exist) where natx remembers what it leaves on the gateway (PCP nonces, UPnP IPv6 pinhole IDs, the UPnP gateway's description), so that a run after a crash renews or deletes it (default: nothing remembered)"

// StateDir checks a -state value: empty, or an existing directory.
func StateDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("-state: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("-state %q: not a directory", dir)
	}
	return nil
}
