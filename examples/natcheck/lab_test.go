package main

// Lab test: natcheck itself (its run function, as a whole process in the
// host's namespace) against coturn behind the lab's NATs, compared with
// coturn's own RFC 5780 client, turnutils_natdiscovery (root only).

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/nodeconn/natx/internal/netlab"
)

func TestNetlabHelper(t *testing.T) {
	netlab.Helper(t, map[string]netlab.HelperFunc{"natcheck": func(args []string) error {
		if code := run(context.Background(), args, os.Stdout, os.Stderr); code != 0 {
			return os.ErrInvalid
		}
		return nil
	}})
}

func TestLabAgreesWithNatdiscovery(t *testing.T) {
	t.Parallel()
	l := netlab.New(t)
	l.StartCoturn()
	verdict := func(out, kind string) string {
		for _, b := range []struct{ text, name string }{
			{"NAT with Endpoint Independent " + kind, "endpoint-independent"},
			{"NAT with Address Dependent " + kind, "address-dependent"},
			{"NAT with Address and Port Dependent " + kind, "address-and-port-dependent"},
		} {
			if strings.Contains(out, b.text) {
				return b.name
			}
		}
		return "unknown"
	}
	for _, kind := range []netlab.Kind{netlab.EIM, netlab.Symmetric, netlab.PortForward, netlab.CarrierNAT} {
		s := l.AddSite(kind)
		t.Run(kind.String(), func(t *testing.T) {
			t.Parallel()
			p := l.StartHelper(s.Host, "natcheck", "-json", "-stun", netlab.ServerA.String()+":3478")
			if err := p.Wait(); err != nil {
				t.Fatalf("natcheck: %v\n%s", err, p.Output())
			}
			// natcheck prints one indented JSON object.
			var got struct{ Mapping, Filtering string }
			out := p.Output()
			start := strings.Index(out, "{")
			if start < 0 {
				t.Fatalf("natcheck printed no JSON:\n%s", out)
			}
			if err := json.Unmarshal([]byte(out[start:]), &got); err != nil {
				t.Fatalf("natcheck JSON: %v\n%s", err, out)
			}
			ref := s.Host.MustExec("turnutils_natdiscovery", "-m", "-f", netlab.ServerA.String())
			m, f := verdict(ref, "Mapping"), verdict(ref, "Filtering")
			if m == "unknown" || f == "unknown" {
				t.Fatalf("natdiscovery gave no verdict:\n%s", ref)
			}
			if got.Mapping != m || got.Filtering != f {
				t.Errorf("natcheck says %s/%s, turnutils_natdiscovery says %s/%s", got.Mapping, got.Filtering, m, f)
			}
		})
	}
}
