package stunprobe

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// Probe opens its own sockets (on the unspecified address) and samples the
// port allocation: vnet allocates sequentially, step 1.
func TestVnetProbeSamplesPorts(t *testing.T) {
	for _, nat := range []vnetlab.NAT{vnetlab.Easy, vnetlab.Hard} {
		t.Run(nat.String(), func(t *testing.T) {
			sw := newSimWorld(t, vnetlab.Config{}, stuntest.Options{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := Probe(ctx, Config{Servers: []netip.AddrPort{sw.stun.Addr()}, Net: sw.host.Net})
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, r, nat, sw.host)
			if r.PortAllocation != AllocationSequential || r.PortDelta != 1 || r.NAT != TriYes {
				t.Fatalf("allocation %v delta %d ports %v nat %v; notes %q", r.PortAllocation, r.PortDelta, r.Ports, r.NAT, r.Notes)
			}
			if !r.Local.Addr().IsUnspecified() {
				t.Errorf("local %v: Probe binds the unspecified address", r.Local)
			}
		})
	}
}

// A server that silently drops CHANGE-REQUEST looks like a filtering NAT.
// Behind endpoint-independent mapping the controls catch it (unknown);
// behind endpoint-dependent mapping they cannot, and the Report says what
// it assumed.
func TestVnetServerDropsChangeRequest(t *testing.T) {
	for _, nat := range []vnetlab.NAT{
		{Mapping: vnetlab.EndpointIndependent, Filtering: vnetlab.EndpointIndependent},
		{Mapping: vnetlab.AddressPortDependent, Filtering: vnetlab.EndpointIndependent},
	} {
		t.Run(nat.String(), func(t *testing.T) {
			sw := newSimWorld(t, vnetlab.Config{}, stuntest.Options{DropChangeRequest: true}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{sw.stun.Addr()}})
			if err != nil {
				t.Fatal(err)
			}
			if nat.Mapping == vnetlab.EndpointIndependent {
				if r.Filtering != Unknown || !hasNote(r, "filtering", "even once the filter was open") {
					t.Fatalf("filtering %v; notes %q", r.Filtering, r.Notes)
				}
				return
			}
			if r.Filtering != Unknown && !hasNote(r, "filtering", "assumes the server honours") {
				t.Fatalf("filtering %v claimed without saying it was unconfirmed; notes %q", r.Filtering, r.Notes)
			}
		})
	}
}

// The binding lifetime, with a NAT whose bindings die after 600 ms of
// silence: silences of 250, 500 and 1000 ms bound it to [500 ms, 1 s),
// checked with RESPONSE-PORT from a second socket; with a server that
// ignores RESPONSE-PORT, by the mapped address (vnet's NAT gives a
// re-created binding a new port, so the bounds are the same), and the
// note says so. Either way the report's Mapped is the binding made again
// after the test.
func TestVnetLifetime(t *testing.T) {
	for _, tt := range []struct {
		name     string
		opts     stuntest.Options
		wantNote string
	}{
		{"response-port", stuntest.Options{}, "RESPONSE-PORT (RFC 5780 section 4.6)"},
		{"fallback", stuntest.Options{IgnoreResponsePort: true}, "did not answer to RESPONSE-PORT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			nat := vnetlab.Easy
			nat.Lifetime = 600 * time.Millisecond
			sw := newSimWorld(t, vnetlab.Config{}, tt.opts, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{sw.stun.Addr()}, Net: sw.host.Net, Lifetime: 250 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if r.LifetimeMin != 500*time.Millisecond || r.LifetimeMax != time.Second {
				t.Fatalf("lifetime in [%v, %v); notes %q", r.LifetimeMin, r.LifetimeMax, r.Notes)
			}
			if !hasNote(r, "lifetime", tt.wantNote) {
				t.Fatalf("no note %q; notes %q", tt.wantNote, r.Notes)
			}
			// vnet's NAT gives the binding made again a new port: the
			// report names it, not the dead one.
			if !hasNote(r, "lifetime", "made again after the test has the address "+r.Mapped.String()) {
				t.Fatalf("Mapped %v is not the binding made again; notes %q", r.Mapped, r.Notes)
			}
		})
	}
}

// A server on the probe's path that is never reached (a wrong address):
// the others are used, the silent one is named, and the probe ends after
// the grace period rather than the deadline.
func TestVnetSilentSecondServer(t *testing.T) {
	sw := newSimWorld(t, vnetlab.Config{}, stuntest.Options{}, vnetlab.Easy)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dead := netip.MustParseAddrPort("7.0.0.10:9999")
	r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{dead, sw.stun.Addr()}, ServerGrace: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, r, vnetlab.Easy, sw.host)
	if r.Servers[0].Answered || !r.Servers[1].Answered || !hasNote(r, "server "+dead.String(), "no UDP answer") {
		t.Fatalf("servers %+v notes %q", r.Servers, r.Notes)
	}
	if ctx.Err() != nil {
		t.Fatal("waited out the deadline")
	}
}
