//go:build linux

package netwatch

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestLabNotifierSeesAddressChange: in a lab host's namespace, the netlink
// notifier wakes when an address is added, and a snapshot taken there
// shows it; Close ends the reader. Mutations caught: no subscription
// groups (no notification), a reader that ignores Close (the test hangs
// at Close).
func TestLabNotifierSeesAddressChange(t *testing.T) {
	l := netlab.New(t)
	s := l.AddSite(netlab.EIM)
	var n *Notifier
	var before Snapshot
	if err := s.Host.Do(func() error {
		var err error
		if n, err = NewNotifier(); err != nil {
			return err
		}
		before, err = Take(nil)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if before.Gateway4 != s.GatewayIP || !slices.Contains(before.Addrs, s.HostIP) {
		t.Errorf("snapshot %+v: want gateway %v and address %v", before, s.GatewayIP, s.HostIP)
	}
	// Drain what the namespace's set-up may have queued.
	time.Sleep(100 * time.Millisecond)
	for len(n.C()) > 0 {
		<-n.C()
	}
	added := netip.MustParseAddr("10.201.0.9")
	s.Host.MustExec("ip", "addr", "add", added.String()+"/32", "dev", "eth0")
	select {
	case <-n.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no notification for an added address")
	}
	var after Snapshot
	if err := s.Host.Do(func() (err error) { after, err = Take(nil); return err }); err != nil {
		t.Fatal(err)
	}
	if c := diff(before, after); !c.Addrs || c.Gateway || !slices.Contains(after.Addrs, added) {
		t.Errorf("diff %+v: want the added address only", c)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
