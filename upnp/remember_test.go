package upnp

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/nodeconn/natx/upnp/upnptest"
)

// TestDiscoverRemembered (issue 14's benchmark against upnpc -u): with a
// StateDir, Discover remembers the gateway's description URL (mode 0600)
// and a later Discover goes there first, sending no M-SEARCH; a remembered
// URL that no longer answers (the gateway's HTTP port moved) costs one
// refused connection, then the search finds the gateway and the new URL is
// remembered. A remembered URL that fails the LOCATION rules (another
// host), or one remembered for another gateway, is never used. Mutation
// caught: the file's gateway not compared with the one asked for.
func TestDiscoverRemembered(t *testing.T) {
	s := upnptest.NewServer(t, upnptest.Options{})
	dir := t.TempDir()
	file := filepath.Join(dir, rememberFile)
	open := func() *Client {
		t.Helper()
		return discover(t, s, func(c *Config) { c.StateDir = dir })
	}
	c := open()
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, %v; want mode 0600", file, fi, err)
	}
	searches := s.Count("M-SEARCH")
	if c2 := open(); c2.Location() != c.Location() || s.Count("M-SEARCH") != searches {
		t.Errorf("second Discover: %s after %d more M-SEARCH; want %s and none", c2.Location(), s.Count("M-SEARCH")-searches, c.Location())
	}

	write := func(r remembered) {
		t.Helper()
		b, _ := json.Marshal(r)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	gw := s.Addr().String()
	closed := netip.AddrPortFrom(s.Addr(), closedPort(t, "tcp4"))
	for _, tt := range []struct {
		name string
		r    remembered
	}{
		{"moved port", remembered{Gateway: gw, Location: "http://" + closed.String() + "/rootDesc.xml", ST: searchTargets[0]}},
		{"another host", remembered{Gateway: gw, Location: "http://192.0.2.1:80/rootDesc.xml", ST: searchTargets[0]}},
		{"another gateway", remembered{Gateway: "192.0.2.1", Location: c.Location(), ST: searchTargets[0]}},
		{"garbage", remembered{Gateway: gw, Location: "::", ST: "x"}},
	} {
		write(tt.r)
		searches := s.Count("M-SEARCH")
		c3 := open()
		if c3.Location() != c.Location() || s.Count("M-SEARCH") == searches {
			t.Errorf("%s: Discover gave %s after %d M-SEARCH; want %s found by a search", tt.name, c3.Location(), s.Count("M-SEARCH")-searches, c.Location())
		}
		if ans, ok := recall(dir, s.Addr()); !ok || ans.Location.String() != c.Location() {
			t.Errorf("%s: remembered %v, %v afterwards; want %s", tt.name, ans.Location, ok, c.Location())
		}
	}
}
