package stunprobe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/transport/v5"
)

// ProbeConn probes from conn, a socket the caller owns and will go on using
// (so the mapped address found is the one peers can reach). ProbeConn reads
// from conn until the probe ends: the caller must not read from it
// meanwhile, and datagrams that are not STUN answers to this probe are
// dropped. Afterwards the read deadline is reset to none. ProbeConn never
// closes conn.
//
// Filtering is measured on conn's NAT binding as it stands. If conn has
// already sent to the server's alternate address while the binding lived
// (an earlier probe from the same socket, typically within the NAT's
// binding timeout), the NAT's filter is already open for it and filtering
// reads as endpoint-independent whatever the NAT does; the probe cannot
// tell. Probe filtering once per socket, before such traffic, or use Probe,
// whose sockets are fresh.
func ProbeConn(ctx context.Context, conn net.PacketConn, cfg Config) (*Report, error) {
	local := netaddr.AddrPort(conn.LocalAddr())
	p, err := NewProber(cfg, local, func(b []byte, to netip.AddrPort) error {
		_, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
		return err
	})
	if err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	var stopping sync.Mutex
	stopped := false
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, maxMessageSize+1)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				stopping.Lock()
				s := stopped
				stopping.Unlock()
				var ne net.Error
				if s || !(errors.As(err, &ne) && ne.Timeout()) {
					return
				}
				continue
			}
			p.HandlePacket(buf[:n], netaddr.AddrPort(from))
		}
	}()
	r, err := p.Run(ctx)
	stopping.Lock()
	stopped = true
	stopping.Unlock()
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	_ = conn.SetReadDeadline(time.Time{})
	return r, err
}

// Probe opens its own sockets on Config.Net (one per address family among
// the servers, bound to the unspecified address), probes from them, samples
// the port allocation with Config.PortSamples more sockets, and closes them
// all before returning. The IPv6 socket's findings go into UDPv6 and the
// Servers and Notes of the Report, and its whole classification into
// Report.IPv6; the top-level classification comes from the IPv4 socket
// when there are IPv4 servers.
func Probe(ctx context.Context, cfg Config) (*Report, error) {
	if len(cfg.Servers) == 0 {
		return nil, ErrNoServers
	}
	n, err := netaddr.Net(cfg.Net)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.AddrPort
	for _, s := range cfg.Servers {
		if s.Addr().Unmap().Is4() {
			v4 = append(v4, s)
		} else {
			v6 = append(v6, s)
		}
	}
	type out struct {
		r   *Report
		err error
	}
	var wg sync.WaitGroup
	results := make([]out, 2)
	for i, fam := range [][]netip.AddrPort{v4, v6} {
		if len(fam) == 0 {
			continue
		}
		network, bind := "udp4", "0.0.0.0:0"
		if i == 1 {
			network, bind = "udp6", "[::]:0"
		}
		c := cfg
		c.Servers = fam
		c.AllocationSockets = 0 // samplePorts samples, after the probe
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := n.ListenPacket(network, bind)
			if err != nil {
				results[i] = out{err: fmt.Errorf("stunprobe: listen %s: %w", network, err)}
				return
			}
			defer conn.Close()
			r, err := ProbeConn(ctx, conn, c)
			if err == nil && r.Mapped.IsValid() && cfg.portSamples() > 0 {
				samplePorts(ctx, n, network, bind, c, r)
			}
			results[i] = out{r, err}
		}()
	}
	wg.Wait()
	r4, r6 := results[0], results[1]
	switch {
	case (len(v4) == 0 || r4.err != nil) && (len(v6) == 0 || r6.err != nil):
		return nil, errors.Join(r4.err, r6.err)
	case len(v4) == 0 || r4.err != nil:
		if r4.err != nil {
			r6.r.note("udp4", "%v", r4.err)
		}
		v6only := *r6.r
		r6.r.IPv6 = &v6only
		return r6.r, nil
	}
	r := r4.r
	if len(v6) > 0 {
		if r6.err != nil {
			r.note("udp6", "%v", r6.err)
		} else {
			r.IPv6 = r6.r
			r.UDPv6 = r6.r.UDPv6
			r.Servers = append(r.Servers, r6.r.Servers...)
			for _, nt := range r6.r.Notes {
				r.Notes = append(r.Notes, "ipv6 "+nt)
			}
		}
	}
	// Keep Servers in Config order.
	ordered := make([]ServerReport, 0, len(r.Servers))
	for _, s := range cfg.Servers {
		for _, sr := range r.Servers {
			if sr.Addr == unmap(s) {
				ordered = append(ordered, sr)
				break
			}
		}
	}
	r.Servers = ordered
	return r, nil
}

// samplePorts opens more sockets, sends one Binding from each to the
// server that gave r.Mapped (first sends in socket order, so the NAT makes
// the mappings in that order), adds the ports they are mapped to after
// those the probe saw, and reclassifies the port allocation.
func samplePorts(ctx context.Context, n transport.Net, network, bind string, cfg Config, r *Report) {
	var srv netip.AddrPort
	var rtt time.Duration
	for _, s := range r.Servers {
		if s.Answered && s.Mapped == r.Mapped {
			srv, rtt = s.Addr, s.RTT
			break
		}
	}
	if !srv.IsValid() {
		return
	}
	var samples []portSample
	for _, port := range r.Ports {
		samples = append(samples, portSample{local: r.Local.Port(), mapped: port})
	}
	more, why := sampleSockets(ctx, n, network, bind, cfg, srv, rtt, cfg.portSamples())
	for _, w := range why {
		r.note("port_allocation", "%s", w)
	}
	samples = append(samples, more...)
	notes := r.Notes[:0:0]
	for _, nt := range r.Notes {
		if !strings.HasPrefix(nt, "port_allocation: fewer") && !strings.HasPrefix(nt, "port_allocation: two") {
			notes = append(notes, nt)
		}
	}
	r.Notes, r.Ports = notes, nil
	(&Prober{}).classifyPorts(r, samples)
}

// sampleSockets opens count sockets on n (network, bound to bind), sends
// one Binding request from each to srv, whose RTT is rtt (first sends in
// socket order, so the NAT makes the mappings in that order), and returns
// the mappings in that order, up to the first socket that could not be
// opened or got no answer (a gap would hide a step of the allocation), with
// the reason it stopped. It closes the sockets before it returns.
func sampleSockets(ctx context.Context, n transport.Net, network, bind string, cfg Config, srv netip.AddrPort, rtt time.Duration, count int) ([]portSample, []string) {
	var why []string
	c := cfg
	c.Servers = []netip.AddrPort{srv}
	var conns []net.PacketConn
	for range count {
		conn, err := n.ListenPacket(network, bind)
		if err != nil {
			why = append(why, fmt.Sprintf("cannot open a sample socket: %v", err))
			break
		}
		defer conn.Close()
		conns = append(conns, conn)
	}
	mapped := make([]netip.AddrPort, len(conns))
	var wg sync.WaitGroup
	for i, conn := range conns {
		sent := make(chan struct{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			mapped[i] = sampleOne(ctx, conn, c, rtt, sent)
		}()
		select {
		case <-sent:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	var out []portSample
	for i, m := range mapped {
		if !m.IsValid() {
			why = append(why, "a sample socket got no answer")
			break
		}
		out = append(out, portSample{local: netaddr.AddrPort(conns[i].LocalAddr()).Port(), mapped: m.Port()})
	}
	return out, why
}

// sampleOne sends one Binding from conn to cfg.Servers[0] and returns the
// mapped address, or the zero address. It closes sent after the first send.
func sampleOne(ctx context.Context, conn net.PacketConn, cfg Config, rtt time.Duration, sent chan struct{}) netip.AddrPort {
	p, err := NewProber(cfg, netaddr.AddrPort(conn.LocalAddr()), func(b []byte, to netip.AddrPort) error {
		_, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
		return err
	})
	if err != nil {
		close(sent)
		return netip.AddrPort{}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, maxMessageSize+1)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return // the read deadline below
			}
			p.HandlePacket(buf[:n], netaddr.AddrPort(from))
		}
	}()
	srv := cfg.Servers[0]
	neg := p.negWait(rtt)
	t := p.exchange(ctx, srv, srv, 0, false, retry{rto: p.rto(rtt), budget: 2*neg + rtt}, sent)
	res := p.result(t)
	_ = conn.SetReadDeadline(time.Unix(1, 0))
	wg.Wait()
	if !res.answered {
		return netip.AddrPort{}
	}
	return res.msg.mapped
}
