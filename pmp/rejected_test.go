package pmp_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/nodeconn/natx/pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

// A mapping request whose answer the client rejects leaves nothing on the
// gateway: the gateway made the mapping when the request reached it, so
// the client deletes it (the same background deletion as for an abandoned
// request, joined by Close). For each protocol and each defect of the
// answer, the gateway's live mappings are counted after Close: 0.
// Mutations caught: pcpMap undoing only abandoned requests (every PCP
// case but "unspecified-external" keeps a 1 h mapping), no undo after a
// rejected success (that one keeps it), natpmpCall's undo without
// undoAfter's ErrBadAnswer (every NAT-PMP case keeps it), the internal
// port checked after natpmpCall instead of inside it (WrongInternalPort
// keeps it).
func TestRejectedAnswerLeavesNothing(t *testing.T) {
	type tcase struct {
		name  string
		proto pmp.Protocol
		opts  pmptest.Options
	}
	var cases []tcase
	for _, m := range []pmptest.Malformation{pmptest.Truncated, pmptest.WrongNonce, pmptest.WrongOpcode,
		pmptest.WrongVersion, pmptest.WrongInternalPort, pmptest.WrongProtocol} {
		cases = append(cases, tcase{"pcp-" + m.String(), pmp.PCP, pmptest.Options{Faults: pmptest.Faults{Malform: m}}})
	}
	cases = append(cases, tcase{"pcp-unspecified-external", pmp.PCP, pmptest.Options{External: netip.IPv4Unspecified()}})
	for _, m := range []pmptest.Malformation{pmptest.Truncated, pmptest.WrongOpcode, pmptest.WrongVersion, pmptest.WrongInternalPort} {
		cases = append(cases, tcase{"natpmp-" + m.String(), pmp.NATPMP, pmptest.Options{Faults: pmptest.Faults{Malform: m}}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, c := newPair(t, tc.opts, pmp.Config{Protocols: []pmp.Protocol{tc.proto}, Timeout: 150 * time.Millisecond})
			_, err := c.AddMapping(ctxT(t), "udp", port(8300), port(8300), time.Hour)
			if !errors.Is(err, pmp.ErrBadAnswer) {
				t.Fatalf("AddMapping: %v, want ErrBadAnswer", err)
			}
			if tc.proto == pmp.PCP {
				// The external-address probe: a 120 s MAP of the
				// client's own PCP port.
				if _, err := c.ExternalAddress(ctxT(t)); !errors.Is(err, pmp.ErrBadAnswer) {
					t.Fatalf("ExternalAddress: %v, want ErrBadAnswer", err)
				}
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if m := s.Mappings(); len(m) != 0 {
				t.Fatalf("gateway holds %d mapping(s) after the rejected answers: %+v", len(m), m)
			}
			// Each rejected request was followed by its deletion.
			want := 2
			if tc.proto == pmp.PCP {
				want = 4
			}
			if n := s.Requests().PCPMap + s.Requests().NATPMPMap; n < want {
				t.Fatalf("%d mapping requests, deletions included; want at least %d", n, want)
			}
		})
	}
}

// A renewal whose answer is rejected leaves the mapping it renews alone:
// that mapping stays valid until it expires, and the caller still holds
// it. Mutation caught: RenewMapping passing renew=false to mapWith (both
// subtests: the gateway's table is empty after Close).
func TestRejectedRenewalKeepsMapping(t *testing.T) {
	for _, p := range []pmp.Protocol{pmp.PCP, pmp.NATPMP} {
		t.Run(string(p), func(t *testing.T) {
			s, c := newPair(t, pmptest.Options{}, pmp.Config{Protocols: []pmp.Protocol{p}, Timeout: 150 * time.Millisecond})
			m, err := c.AddMapping(ctxT(t), "udp", port(8400), port(0), time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			s.SetFaults(pmptest.Faults{Malform: pmptest.WrongInternalPort})
			if _, err := c.RenewMapping(ctxT(t), m, time.Hour); !errors.Is(err, pmp.ErrBadAnswer) {
				t.Fatalf("RenewMapping: %v, want ErrBadAnswer", err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if got := s.Mappings(); len(got) != 1 {
				t.Fatalf("gateway holds %+v, want the renewed mapping", got)
			}
		})
	}
}
