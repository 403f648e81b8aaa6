package holepunch

// Gathering this side's candidates: host addresses and server-reflexive ones from STUN.

import (
	"context"
	"net/netip"
	"time"

	"github.com/nodeconn/natx/internal/netaddr"

	"github.com/pion/stun/v4"
)

// candidates returns this side's candidates for an attempt: the caller's
// (Config.Candidates), or the host addresses of the socket plus the
// server-reflexive addresses that Config.STUNServers report for it.
func (p *Puncher) candidates(ctx context.Context) []Candidate {
	var out []Candidate
	add := func(c Candidate) {
		c.Addr = netip.AddrPortFrom(c.Addr.Addr().Unmap(), c.Addr.Port())
		if checkAddr(c.Addr, true) != nil || len(out) >= maxSignalCandidates {
			return
		}
		if c.Kind < KindHost || c.Kind > KindPortMapped {
			return
		}
		for _, o := range out {
			if o.Addr == c.Addr {
				return
			}
		}
		out = append(out, c)
	}
	if p.cfg.Candidates != nil {
		cands, err := p.cfg.Candidates(ctx)
		if err != nil {
			p.log.Debug("holepunch: candidates", "err", err)
		}
		for _, c := range cands {
			add(c)
		}
		return out
	}
	for _, m := range p.reflexive(ctx) {
		add(Candidate{Addr: m, Kind: KindServerReflexive})
	}
	if !p.local.Addr().IsUnspecified() {
		add(Candidate{Addr: p.local, Kind: KindHost})
		return out
	}
	addrs, err := netaddr.InterfaceAddrs(p.cfg.Net)
	if err != nil {
		p.log.Debug("holepunch: interfaces", "err", err)
	}
	for _, a := range addrs {
		if a.Is4() != p.local.Addr().Is4() && !p.local.Addr().Is6() {
			continue
		}
		if a.IsLoopback() && !p.cfg.AllowLoopback {
			continue
		}
		add(Candidate{Addr: netip.AddrPortFrom(a, p.local.Port()), Kind: KindHost})
	}
	return out
}

// reflexive asks every STUN server for the socket's mapped address, with
// retransmissions, for at most Config.GatherTimeout. It returns the
// distinct addresses, in server order.
func (p *Puncher) reflexive(ctx context.Context) []netip.AddrPort {
	n := len(p.cfg.STUNServers)
	if n == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.gatherTimeout())
	defer cancel()
	ch := make(chan gatherResult, n)
	txids := make([][stun.TransactionIDSize]byte, n)
	servers := make([]netip.AddrPort, n)
	mapped := make([]netip.AddrPort, n)
	p.mu.Lock()
	for i, a := range p.cfg.STUNServers {
		servers[i] = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		txids[i] = stun.NewTransactionID()
		p.gathers[txids[i]] = gatherTxn{server: servers[i], index: i, ch: ch}
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		for _, id := range txids {
			delete(p.gathers, id)
		}
		p.mu.Unlock()
	}()
	rto := 250 * time.Millisecond
	timer := time.NewTimer(0)
	defer timer.Stop()
	for pending := n; pending > 0; {
		select {
		case <-timer.C:
			for i, s := range servers {
				if !mapped[i].IsValid() {
					_ = p.sock0.send(stunRequest(txids[i]), s)
				}
			}
			timer.Reset(rto)
			rto *= 2
		case r := <-ch:
			if !mapped[r.index].IsValid() {
				mapped[r.index] = r.mapped
				pending--
			}
		case <-ctx.Done():
			pending = 0
		case <-p.done:
			pending = 0
		}
	}
	var out []netip.AddrPort
	for _, m := range mapped {
		if m.IsValid() && checkAddr(m, true) == nil {
			out = append(out, m)
		}
	}
	return out
}

type gatherResult struct {
	index  int
	mapped netip.AddrPort
}
