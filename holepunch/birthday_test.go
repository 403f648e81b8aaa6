package holepunch_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// TestBirthday punches between every endpoint-dependent NAT of vnet and
// the common home router (endpoint-independent mapping,
// address-and-port-dependent filtering), each side initiating in turn,
// with 50 ms one-way delay and 5% loss. Ordinary checks fail there
// (TestMatrix); the birthday mode, with a budget of 64 probes, succeeds.
func TestBirthday(t *testing.T) {
	type tc struct {
		nats    [2]vnetlab.NAT
		sockets int
	}
	var cases []tc
	for _, n := range vnetlab.Matrix() {
		if n.Mapping == vnetlab.EndpointIndependent {
			continue
		}
		cases = append(cases, tc{nats: [2]vnetlab.NAT{n, vnetlab.Easy}}, tc{nats: [2]vnetlab.NAT{vnetlab.Easy, n}})
	}
	// The opener may also open sockets of its own (as with random port
	// allocation); the path may then run on one of them.
	cases = append(cases, tc{nats: [2]vnetlab.NAT{vnetlab.Hard, vnetlab.Easy}, sockets: 4}, tc{nats: [2]vnetlab.NAT{vnetlab.Easy, vnetlab.Hard}, sockets: 4})
	type result struct {
		err  error
		info string
	}
	results := make([]result, len(cases))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, c := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = func() result {
				sp, err := newSimPair(vnetlab.Config{Delay: 50 * time.Millisecond, Loss: 0.05, Seed: uint64(100 + i)}, c.nats,
					func(_ int, cfg *holepunch.Config) {
						cfg.Timeout = 8 * time.Second
						cfg.Birthday = holepunch.Birthday{Budget: 64, Rate: 200, Sockets: c.sockets}
					})
				if err != nil {
					return result{err: err}
				}
				defer sp.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				pa, pb, err := sp.punch(ctx)
				if err != nil {
					return result{err: err}
				}
				defer pa.Close()
				defer pb.Close()
				if err := pathExchange(pa, pb, sp.eps); err != nil {
					return result{err: err}
				}
				return result{info: fmt.Sprintf("%v (own socket %v) <-> %v (own socket %v)", pa.Remote(), pa.Conn() != nil, pb.Remote(), pb.Conn() != nil)}
			}()
		}()
	}
	wg.Wait()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%v-%v-sockets%d", c.nats[0], c.nats[1], c.sockets), func(t *testing.T) {
			if r := results[i]; r.err != nil {
				t.Errorf("want a direct path through the birthday mode, got %v", r.err)
			} else {
				t.Log(r.info)
			}
		})
	}
}

// pathExchange sends a datagram each way over the paths, through the
// path's own socket when it has one, and waits for it; it sends again every
// 200 ms, for the simulated loss.
func pathExchange(pa, pb *holepunch.Path, eps [2]*holepunch.Endpoint) error {
	paths := [2]*holepunch.Path{pa, pb}
	for i := range 2 {
		from, to := paths[i], paths[1-i]
		msg := fmt.Sprintf("datagram %d", i)
		var w interface {
			WriteTo([]byte, net.Addr) (int, error)
		} = eps[i]
		if c := from.Conn(); c != nil {
			w = c
		}
		var rd packetReaderConn = eps[1-i]
		if c := to.Conn(); c != nil {
			rd = c
		}
		buf := make([]byte, 1500)
		got := false
		for try := 0; try < 25 && !got; try++ {
			if _, err := w.WriteTo([]byte(msg), udpAddr(from.Remote().Addr)); err != nil {
				return err
			}
			_ = rd.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			for {
				n, _, err := rd.ReadFrom(buf)
				if err != nil {
					break
				}
				if string(buf[:n]) == msg {
					got = true
					break
				}
			}
		}
		if !got {
			return fmt.Errorf("side %d never received %q", 1-i, msg)
		}
	}
	return nil
}
