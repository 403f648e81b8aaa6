package stunprobe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/observe"
	"github.com/nodeconn/natx/internal/vnetlab"
	"github.com/nodeconn/natx/stunprobe/stuntest"
)

// simWorld is one simulated internet with an RFC 5780 server (stuntest on
// 7.0.0.10 and 7.0.0.11, ports 3478/3479), the raw observer's four sockets
// on the same two addresses (ports 4478/4479), and one host behind nats.
type simWorld struct {
	w    *vnetlab.World
	host *vnetlab.Host
	stun *stuntest.Server
	obs  observe.Servers
	// ports counts the host sockets opened, for fresh local ports.
	ports int
}

func newSimWorld(t testing.TB, cfg vnetlab.Config, opts stuntest.Options, nats ...vnetlab.NAT) *simWorld {
	t.Helper()
	p, err := vnetlab.NewPair(cfg, nats...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	w, h, srvNet, ips := p.World, p.Host, p.Server, p.ServerIPs
	opts.Net, opts.Addrs, opts.Ports = srvNet, ips, [2]uint16{3478, 3479}
	s, err := stuntest.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	obs, err := observe.Listen(srvNet.ListenPacket, ips[0], ips[1], 4478, 4479)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = obs.Close() })
	return &simWorld{w: w, host: h, stun: s, obs: obs}
}

// listen opens a host socket on a port never used before in this world.
// vnet picks ports at random from 5000-5999, and a reused port finds the
// NAT binding of the earlier socket still alive (30 s), its filter opened
// by the earlier probe: the filtering test would then see a full cone.
func (sw *simWorld) listen(t testing.TB) net.PacketConn {
	t.Helper()
	sw.ports++
	c, err := sw.host.Net.ListenPacket("udp4", fmt.Sprintf("%s:%d", sw.host.IP, 20000+sw.ports))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// checkAgainst fails the test if r claims a behaviour other than the one
// configured; unknown is a failure too, as the truth is known.
func checkAgainst(t *testing.T, r *Report, nat vnetlab.NAT, h *vnetlab.Host) {
	t.Helper()
	wantM := Behaviour(vnetlab.BehaviourName(nat.Mapping))
	wantF := Behaviour(vnetlab.BehaviourName(nat.Filtering))
	if r.Mapping != wantM {
		t.Errorf("mapping %v, configured %v; notes %q", r.Mapping, wantM, r.Notes)
	}
	if r.Filtering != wantF {
		t.Errorf("filtering %v, configured %v; notes %q", r.Filtering, wantF, r.Notes)
	}
	if r.Mapped.IsValid() && r.Mapped.Addr() != h.External {
		t.Errorf("mapped %v, want the NAT's external address %v", r.Mapped, h.External)
	}
	if r.Mapped.IsValid() && r.NAT != TriYes {
		t.Errorf("nat %v behind a NAT", r.NAT)
	}
	if r.Mapped.IsValid() && r.PortPreserved == TriYes {
		t.Errorf("port preserved, but vnet allocates from 49152")
	}
	if r.PortAllocation != AllocationUnknown && r.PortAllocation != AllocationSequential {
		t.Errorf("port allocation %v, vnet allocates sequentially (ports %v)", r.PortAllocation, r.Ports)
	}
	if r.PortAllocation == AllocationSequential && r.PortDelta != 1 {
		t.Errorf("port delta %d, vnet steps by 1 (ports %v)", r.PortDelta, r.Ports)
	}
}

// TestVnetMatrix runs the probe behind each of the nine simulated NATs and
// compares it with the configured behaviour and with the raw observation
// of internal/observe. Without loss, nothing may stay unknown.
func TestVnetMatrix(t *testing.T) {
	for _, nat := range vnetlab.Matrix() {
		t.Run(nat.String(), func(t *testing.T) {
			t.Parallel()
			sw := newSimWorld(t, vnetlab.Config{}, stuntest.Options{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{sw.stun.Addr()}, Hairpin: true})
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, r, nat, sw.host)
			o := observe.Options{Wait: 300 * time.Millisecond}
			if want := triOf(rawHairpin(ctx, t, sw, o)); r.Hairpin != want {
				t.Errorf("hairpin %v, raw observation %v", r.Hairpin, want)
			}
			om, err := observe.ObserveMapping(ctx, sw.listen(t), sw.obs, o)
			if err != nil {
				t.Fatal(err)
			}
			of, err := observe.ObserveFiltering(ctx, sw.listen(t), sw.obs, o)
			if err != nil {
				t.Fatal(err)
			}
			if string(r.Mapping) != om.Behaviour || string(r.Filtering) != of.Behaviour {
				t.Errorf("probe says %v/%v, raw observation %v/%v", r.Mapping, r.Filtering, om.Behaviour, of.Behaviour)
			}
		})
	}
}

// TestVnetMatrixLoss is the matrix again across an internet that drops 10%
// of packets: every answer must be right, neither wrong nor unknown (the
// truth is known, and the probe's retransmissions are there for this
// loss). Checked by mutation: with retransmission off (retry.interval
// returning 0 from the first send, "if i >= 6" made "if i >= 0" in
// prober.go), three cells fail with unknown verdicts (APDM/APDF, APDM/ADF
// and ADM/APDF in one run, ADM/ADF, APDM/APDF and ADM/APDF in another),
// where the test used to accept unknown and passed. Before the positive
// tests' sends were spread over their budget (retry.maxRTO), 3 runs in 20
// failed here with APDM/APDF's mapping unknown: four lost round trips in
// a row to the other address. Known, not fixed: with -race on a 2-core
// machine at load average 12, about 1 run in 80 ends with a filtering
// verdict unknown because "an answer to a CHANGE-REQUEST arrived after the
// negative wait" (0 or 1 datagram lost: host jitter, not loss; a floor of
// 300 ms did not prevent it, as the answer to the last send, made late in
// the wait, comes back through the filter that phase 3 then opens). The
// test does not excuse it.
func TestVnetMatrixLoss(t *testing.T) {
	for i, nat := range vnetlab.Matrix() {
		t.Run(nat.String(), func(t *testing.T) {
			t.Parallel()
			sw := newSimWorld(t, vnetlab.Config{Loss: 0.10, Seed: uint64(100 + i)}, stuntest.Options{}, nat)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := ProbeConn(ctx, sw.listen(t), Config{Servers: []netip.AddrPort{sw.stun.Addr()}, InitialRTO: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			checkAgainst(t, r, nat, sw.host)
			t.Logf("%v: mapping %v filtering %v, dropped %d", nat, r.Mapping, r.Filtering, sw.w.Dropped())
		})
	}
}

// rawHairpin is the ground truth for hairpinning: a raw datagram sent from
// a fresh socket to its own mapped address (found by the observer), which
// comes back or not. (vnet routes it through the internet router back to
// the NAT, whose filter decides.)
func rawHairpin(ctx context.Context, t *testing.T, sw *simWorld, o observe.Options) bool {
	t.Helper()
	c := sw.listen(t)
	mapped, err := observe.MappedBy(ctx, c, sw.obs.A1P1, o)
	if err != nil {
		t.Fatal(err)
	}
	tok := []byte("hairpin-probe")
	buf := make([]byte, 64)
	for range 3 {
		if _, err := c.WriteTo(tok, net.UDPAddrFromAddrPort(mapped)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		n, _, err := c.ReadFrom(buf)
		if err == nil && string(buf[:n]) == string(tok) {
			return true
		}
	}
	return false
}

func ExampleBehaviour() {
	fmt.Println(EndpointIndependent, AddressDependent, AddressPortDependent, Unknown)
	// Output: endpoint-independent address-dependent address-and-port-dependent unknown
}
