package natx

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch/rendezvous"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
	"github.com/pion/transport/v5/vnet"
)

// fakeDialBack is a dial-back server on vnet: it sends the token's
// datagram from its own host to the observed IP at the port asked.
type fakeDialBack struct {
	net      *vnet.Net
	observed netip.AddrPort
	asked    int
}

func (f *fakeDialBack) ObservedAddr() netip.AddrPort { return f.observed }

func (f *fakeDialBack) DialBack(_ context.Context, port uint16, token [12]byte) error {
	f.asked++
	pc, err := f.net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		return err
	}
	defer pc.Close()
	_, err = pc.WriteTo(rendezvous.DialBackMessage(token), net.UDPAddrFromAddrPort(netip.AddrPortFrom(f.observed.Addr(), port)))
	return err
}

// dialBackWorld is a host behind nat, classified by a plain STUN server
// (no OTHER-ADDRESS, so nothing is verified), with a dial-back host on the
// internet that the node never sends to, and the STUN server's own stack.
func dialBackWorld(t *testing.T, nat vnetlab.NAT) (l *Listener, h *vnetlab.Host, other, stunNet *vnet.Net) {
	t.Helper()
	hs, stun, other, stunNet := dialBackHosts(t, []vnetlab.NAT{nat})
	return openPlain(t, hs[0], stun), hs[0], other, stunNet
}

// dialBackHosts starts a world of one host per entry of nats (behind those
// NATs; none: public), a plain STUN server (no OTHER-ADDRESS) at stun on
// the stack stunNet, and a host other on the internet.
func dialBackHosts(t *testing.T, nats ...[]vnetlab.NAT) (hs []*vnetlab.Host, stun netip.AddrPort, other, stunNet *vnet.Net) {
	t.Helper()
	w, err := vnetlab.New(vnetlab.Config{})
	if err != nil {
		t.Fatal(err)
	}
	stunNet, ips, err := w.AddServer(2)
	if err != nil {
		t.Fatal(err)
	}
	other, _, err = w.AddServer(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nats {
		h, err := w.AddHost(n...)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	s, err := stuntest.New(stuntest.Options{Net: stunNet, Addrs: [2]netip.Addr{ips[0], ips[1]}, Ports: [2]uint16{3478, 3479}, NoOtherAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return hs, s.Addr(), other, stunNet
}

// openPlain opens h's Listener classified by the plain STUN server stun.
func openPlain(t *testing.T, h *vnetlab.Host, stun netip.AddrPort) *Listener {
	t.Helper()
	return openT(t, Config{Net: h.Net, STUNServers: []netip.AddrPort{stun}, DisablePortMap: true, ProbeTimeout: 3 * time.Second})
}

func reflexiveOf(t *testing.T, l *Listener) Candidate {
	t.Helper()
	c, ok := findKind(l.Addrs(), KindReflexive)
	if !ok {
		t.Fatalf("no reflexive candidate in %v", l.Addrs())
	}
	return c
}

// TestDialBackVerifies: without an RFC 5780 server nothing is verified;
// behind endpoint-independent filtering a dial-back from a host the node
// never contacted arrives and verifies the reflexive address (reach
// mapped), and an unsolicited datagram agrees (CheckClaims). Mutation
// caught: applyDialBacks not marking the candidate verified.
func TestDialBackVerifies(t *testing.T) {
	l, h, other, _ := dialBackWorld(t, vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent})
	before := reflexiveOf(t, l)
	if before.Verified {
		t.Fatalf("verified without an RFC 5780 server: %v", before)
	}
	d := &fakeDialBack{net: other, observed: netip.AddrPortFrom(h.External, 40000)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.VerifyByDialBack(ctx, d); err != nil {
		t.Fatal(err)
	}
	c := reflexiveOf(t, l)
	if !c.Verified || c.Reach != ReachMapped || !strings.Contains(c.Note, "dial-back") {
		t.Fatalf("after the dial-back: %v (%s)", c, c.Note)
	}
	if l.Reachability() != ReachMapped {
		t.Errorf("reachability %s, want mapped", l.Reachability())
	}
	CheckClaims(t, l.Reachability(), l.Addrs(), func(a netip.AddrPort) bool { return unsolicitedArrives(t, l, other, a) })
}

// TestDialBackRefuted: behind address-and-port-dependent filtering the
// dial-back does not arrive (three requests), and the candidate stays
// unverified with the reason.
func TestDialBackRefuted(t *testing.T) {
	l, h, other, _ := dialBackWorld(t, vnetlab.Easy)
	d := &fakeDialBack{net: other, observed: netip.AddrPortFrom(h.External, 40000)}
	if err := l.VerifyByDialBack(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	c := reflexiveOf(t, l)
	if c.Verified || !strings.Contains(c.Note, "did not arrive") || d.asked != dialBackTries {
		t.Fatalf("after a filtered dial-back: %v (%s), %d requests", c, c.Note, d.asked)
	}
	if l.Reachability() == ReachMapped || l.Reachability() == ReachPublic {
		t.Errorf("reachability %s on a refuted dial-back", l.Reachability())
	}
}

// TestDialBackFromContactedAddrNoProof: a dial-back from the STUN server's
// own address arrives behind address-dependent filtering (the node sent
// there), and proves nothing: the candidate stays unverified. Mutation
// caught: the contacted check removed.
func TestDialBackFromContactedAddrNoProof(t *testing.T) {
	l, h, _, stunNet := dialBackWorld(t, vnetlab.NAT{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.AddressDependent})
	d := &fakeDialBack{net: stunNet, observed: netip.AddrPortFrom(h.External, 40000)}
	if err := l.VerifyByDialBack(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	c := reflexiveOf(t, l)
	if c.Verified || !strings.Contains(c.Note, "no proof") {
		t.Fatalf("after a dial-back from the STUN server: %v (%s)", c, c.Note)
	}
}

// TestDialBackNothingToVerify: an observed address that is none of the
// candidates' is an error, and no request is made.
func TestDialBackNothingToVerify(t *testing.T) {
	l, _, other, _ := dialBackWorld(t, vnetlab.Easy)
	d := &fakeDialBack{net: other, observed: netip.MustParseAddrPort("7.0.0.99:1")}
	if err := l.VerifyByDialBack(context.Background(), d); err == nil || d.asked != 0 {
		t.Fatalf("err %v after %d requests, want an error and none", err, d.asked)
	}
}

// unsolicitedArrives sends a datagram to a from a fresh socket of from's
// stack and reports whether l reads it.
func unsolicitedArrives(t *testing.T, l *Listener, from *vnet.Net, a netip.AddrPort) bool {
	t.Helper()
	pc, err := from.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for range 3 {
		_, _ = pc.WriteTo([]byte("unsolicited"), net.UDPAddrFromAddrPort(a))
	}
	_ = l.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	defer l.SetReadDeadline(time.Time{})
	buf := make([]byte, 64)
	n, _, err := l.ReadFrom(buf)
	return err == nil && string(buf[:n]) == "unsolicited"
}

// The rendezvous client is a DialBacker.
var _ DialBacker = (*rendezvous.Client)(nil)
