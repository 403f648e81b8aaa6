package holepunch_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nodeconn/natx/holepunch"
	"github.com/nodeconn/natx/internal/vnetlab"
)

// expectation is the outcome the matrix asserts for one pair of NATs, with
// its reason.
type expectation struct {
	direct bool
	reason string
}

// expect states, for side A behind a and side B behind b on vnet, whether
// ordinary checks (no birthday mode) find a direct path, and why. Each side
// offers its host address (unreachable: the two home networks are
// distinct) and its server-reflexive address, the mapping its NAT made
// toward the STUN server.
func expect(a, b vnetlab.NAT) expectation {
	eim := func(n vnetlab.NAT) bool { return n.Mapping == vnetlab.EndpointIndependent }
	admits := func(n vnetlab.NAT) bool { return n.Filtering != vnetlab.AddressPortDependent }
	switch {
	case eim(a) && eim(b):
		return expectation{true, "both map endpoint-independently: each side's checks leave from its server-reflexive address, which the other's checks open its filter to"}
	case eim(a) != eim(b):
		x, y := a, b // x maps endpoint-independently, y does not
		if eim(b) {
			x, y = b, a
		}
		if admits(x) {
			return expectation{true, fmt.Sprintf("%v's checks leave from a new port, which %v's %s filtering admits; the response teaches the peer-reflexive address",
				y, x, vnetlab.BehaviourName(x.Filtering))}
		}
		return expectation{false, fmt.Sprintf("%v's checks leave from a new port that %v's address-and-port-dependent filter drops (only the birthday mode can guess it)", y, x)}
	}
	// Both map endpoint-dependently. The issue's rule of thumb says "no
	// direct path", and it holds for the NATs met in practice (which filter
	// at least by address). vnet also builds the exotic ones that map
	// endpoint-dependently yet filter endpoint-independently, and there
	// the checks do meet: a side with endpoint-independent filtering
	// receives the other's first check on its STUN mapping and learns the
	// other's new port as peer-reflexive; the check it sends back passes a
	// filter that admits its address (EIF or ADF); and because at least
	// one side maps address-dependently (one port per peer address, not
	// per address and port), that side's port stops changing, so the
	// learned address stays valid and the chase of new ports ends.
	eif := func(n vnetlab.NAT) bool { return n.Filtering == vnetlab.EndpointIndependent }
	adm := func(n vnetlab.NAT) bool { return n.Mapping == vnetlab.AddressDependent }
	if ((eif(a) && admits(b)) || (eif(b) && admits(a))) && (adm(a) || adm(b)) {
		return expectation{true, "both map endpoint-dependently, but one filters endpoint-independently and learns the other's port from its check, the other's filter admits the answer, and an address-dependent mapping keeps the port stable"}
	}
	switch {
	case !eif(a) && !eif(b):
		return expectation{false, "both map endpoint-dependently and neither filter admits a check on the STUN mapping: no check ever arrives"}
	case !adm(a) && !adm(b):
		return expectation{false, "both map per address and port: every answer leaves from a new port, the learned peer-reflexive addresses never hold"}
	}
	return expectation{false, "both map endpoint-dependently and the side that could learn the other's port sends back into an address-and-port-dependent filter"}
}

// TestMatrix punches through every pair of vnet's nine NATs (81 pairs)
// with 50 ms one-way delay and 5% loss, and asserts the outcome that
// expect states. The attempts run concurrently, in worlds of their own.
func TestMatrix(t *testing.T) {
	nats := vnetlab.Matrix()
	if testing.Short() {
		nats = []vnetlab.NAT{nats[0], nats[2], nats[4], nats[8]}
	}
	type result struct {
		a, b     vnetlab.NAT
		err      error
		elapsed  time.Duration
		path     string
		setupErr error
	}
	var results []*result
	for _, a := range nats {
		for _, b := range nats {
			results = append(results, &result{a: a, b: b})
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 12)
	for i, r := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sp, err := newSimPair(vnetlab.Config{Delay: 50 * time.Millisecond, Loss: 0.05, Seed: uint64(i + 1)},
				[2]vnetlab.NAT{r.a, r.b}, func(_ int, cfg *holepunch.Config) { cfg.Timeout = 5 * time.Second })
			if err != nil {
				r.setupErr = err
				return
			}
			defer sp.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			pa, pb, err := sp.punch(ctx)
			r.elapsed, r.err = time.Since(start), err
			if err == nil {
				r.path = fmt.Sprintf("%v -> %v", pa.Remote(), pb.Remote())
				pa.Close()
				pb.Close()
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		t.Run(fmt.Sprintf("%v-%v", r.a, r.b), func(t *testing.T) {
			if r.setupErr != nil {
				t.Fatal(r.setupErr)
			}
			want := expect(r.a, r.b)
			switch {
			case want.direct && r.err != nil:
				t.Errorf("want a direct path (%s), got %v", want.reason, r.err)
			case !want.direct && r.err == nil:
				t.Errorf("want no direct path (%s), got %s", want.reason, r.path)
			case !want.direct && !errors.Is(r.err, holepunch.ErrNoDirectPath):
				t.Errorf("want ErrNoDirectPath (%s), got %v", want.reason, r.err)
			default:
				t.Logf("%v in %v: %s", want.direct, r.elapsed.Round(time.Millisecond), want.reason)
			}
		})
	}
}
