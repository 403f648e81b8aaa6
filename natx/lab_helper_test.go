package natx_test

// The one entry point of the lab helpers (internal/netlab): a lab test
// re-runs this test binary as a process in a namespace of its lab, and
// TestNetlabHelper runs the helper it names.

import (
	"testing"

	"github.com/nodeconn/natx/internal/netlab"
)

// TestNetlabHelper serves the helpers of every lab test file of this
// package: labHelpers in portmap_lab_test.go, openLabHelpers in
// open_lab_test.go, openRelayLabHelpers in open_relay_lab_test.go,
// dialLabHelpers in dial_lab_test.go, quicLabHelpers in
// quic_lab_bench_test.go, relayTransportLabHelpers in
// relay_transport_lab_bench_test.go.
func TestNetlabHelper(t *testing.T) {
	all := make(map[string]netlab.HelperFunc, len(labHelpers)+len(openLabHelpers)+len(dialLabHelpers))
	for _, m := range []map[string]netlab.HelperFunc{labHelpers, openLabHelpers, openRelayLabHelpers, dialLabHelpers, quicLabHelpers, relayTransportLabHelpers} {
		for name, f := range m {
			all[name] = f
		}
	}
	netlab.Helper(t, all)
}
