package main

// Mutation is one deliberate bug: a defence of natx switched off by a
// one-line textual change, and the tests that must notice.
//
// To add one, append a literal to mutations below; docs/mutation.md says
// how to choose Find and Replace.
type Mutation struct {
	// Name is short, unique and stable (kebab-case); -run selects by it.
	Name string
	// File is the source file, a slash path from the repository root.
	File string
	// Find is a literal that must occur exactly once in File: the source
	// pattern, never a line number (code moves). When one line is not
	// unique, Find may take in the neighbouring line too ("\n\t\t...").
	Find string
	// Replace is what Find becomes: the bug. Keep it compiling (and
	// go vet clean): a mutation that does not build is a broken entry.
	Replace string
	// Pkg is the package whose tests must catch it, e.g. "./upnp".
	Pkg string
	// Run is the go test -run regular expression of those tests.
	Run string
	// Why names the defence the mutation disables.
	Why string
}

// mutations is the list the tool runs, in order.
var mutations = []Mutation{
	{
		Name:    "upnp-dial-guard",
		File:    "upnp/http.go",
		Find:    "if err != nil || ap.Addr().Unmap() != h.gw {",
		Replace: "if err != nil || !ap.Addr().IsValid() {",
		Pkg:     "./upnp",
		Run:     "^TestDialGuardAlone$",
		Why:     "the HTTP client dials only the gateway, whatever URL reaches it",
	},
	{
		Name:    "upnp-location-pin",
		File:    "upnp/ssdp.go",
		Find:    "if a.Unmap() != gw || !gw.IsValid() {",
		Replace: "if !gw.IsValid() {",
		Pkg:     "./upnp",
		Run:     "^(TestLocationCheckAlone|FuzzLocationURL)$",
		Why:     "an SSDP LOCATION (and a controlURL) must be on the gateway's address",
	},
	{
		Name:    "upnp-close-deletes",
		File:    "upnp/client.go",
		Find:    "for _, m := range todo {",
		Replace: "for _, m := range todo[:0] {",
		Pkg:     "./upnp",
		Run:     "^TestCloseSemantics$",
		Why:     "upnp.Client.Close deletes the mappings it made",
	},
	{
		Name:    "pmp-pcp-nonce",
		File:    "pmp/pcp_codec.go",
		Find:    "if r.Nonce != req.Nonce {",
		Replace: "if false && r.Nonce != req.Nonce {",
		Pkg:     "./pmp",
		Run:     "^(TestPCPMatch|TestPCPMalformedAnswers)$",
		Why:     "a PCP MAP answer counts only with the request's nonce",
	},
	{
		Name:    "pmp-close-waits-deletion",
		File:    "pmp/client.go",
		Find:    "\t\tc.undo.Wait()\n",
		Replace: "\t\t// c.undo.Wait() (mutation)\n",
		Pkg:     "./pmp",
		Run:     "^TestCloseWaitsForAbandonedDeletion$",
		Why:     "pmp.Client.Close waits for the deletion of an abandoned request's mapping",
	},
	{
		Name:    "stunprobe-udp-txid",
		File:    "stunprobe/prober.go",
		Find:    "t := p.pending[id]",
		Replace: "var t *txn; for _, x := range p.pending { t = x }",
		Pkg:     "./stunprobe",
		Run:     "^(TestHandlePacketSeeds|FuzzResponse)$",
		Why:     "a STUN answer over UDP counts only with a pending transaction ID",
	},
	{
		Name:    "stunprobe-tcp-txid",
		File:    "stunprobe/tcp.go",
		Find:    "if err != nil || m.id != id || m.request {",
		Replace: "if err != nil || m.request {",
		Pkg:     "./stunprobe",
		Run:     "^TestTCPBindingTransactionID$",
		Why:     "a STUN answer over TCP counts only with the request's transaction ID",
	},
	{
		Name:    "holepunch-request-mac",
		File:    "holepunch/session.go",
		Find:    "if err := c.authenticate(key); err != nil {\n\t\ts.p.log.Debug(\"holepunch: check dropped\"",
		Replace: "if err := c.authenticate(key); err != nil && false {\n\t\ts.p.log.Debug(\"holepunch: check dropped\"",
		Pkg:     "./holepunch",
		Run:     "^TestHandlePacket$",
		Why:     "a check request counts only with MESSAGE-INTEGRITY under the attempt key",
	},
	{
		Name:    "holepunch-response-mac",
		File:    "holepunch/session.go",
		Find:    "if err := c.authenticate(key); err != nil {\n\t\ts.p.log.Debug(\"holepunch: response dropped\"",
		Replace: "if err := c.authenticate(key); err != nil && false {\n\t\ts.p.log.Debug(\"holepunch: response dropped\"",
		Pkg:     "./holepunch",
		Run:     "^TestForgedResponseIgnored$",
		Why:     "a check response counts only with MESSAGE-INTEGRITY under the attempt key",
	},
	{
		Name:    "natx-relay-verify-outcome",
		File:    "natx/open_relay.go",
		Find:    "st.relayChecked, st.relayVerified, st.relayNote = true, err == nil, \"\"",
		Replace: "st.relayChecked, st.relayVerified, st.relayNote = true, true, \"\"",
		Pkg:     "./natx",
		Run:     "^TestOpenVnetRelayUnverified$",
		Why:     "a relayed candidate whose echo never came back is not verified",
	},
	{
		Name:    "natx-mapcheck-outcome",
		File:    "natx/open_relay.go",
		Find:    "st.mapChecked, st.mapCheckAddr, st.mapOK = true, addr, ok",
		Replace: "st.mapChecked, st.mapCheckAddr, st.mapOK = true, addr, true",
		Pkg:     "./natx",
		Run:     "^TestOpenVnetMappingRefuted$",
		Why:     "a mapping the relay's datagram did not reach is not verified",
	},
	{
		Name:    "natx-mapped-shortcut-filtering",
		File:    "natx/open_state.go",
		Find:    "case m.Transport == \"udp\" && r != nil && c.Addr == st.reflexive && r.Filtering == stunprobe.EndpointIndependent:",
		Replace: "case m.Transport == \"udp\" && r != nil && c.Addr == st.reflexive:",
		Pkg:     "./natx",
		Run:     "^TestOpenVnetMappingOnBindingPort$",
		Why:     "a mapping on the NAT binding's own port is verified only by endpoint-independent filtering",
	},
	{
		Name:    "natx-keeper-close-deletes",
		File:    "natx/portmap_renew.go",
		Find:    "if err = p.unmapBounded(p.mapper, cur); err != nil {",
		Replace: "if err = error(nil); err != nil {",
		Pkg:     "./natx",
		Run:     "^TestPermanentLeaseDeletedOnClose$",
		Why:     "the keeper deletes its mapping before closing the backend (a PortMapper's Close need not)",
	},
	{
		Name:    "natx-keeper-loser-deleted",
		File:    "natx/portmap_keeper.go",
		Find:    "\tif mp != nil {\n\t\t_ = p.unmapBounded(mp, m)\n\t}\n",
		Replace: "\t_ = mp\n",
		Pkg:     "./natx",
		Run:     "^TestLosingMappingDeleted$",
		Why:     "the keeper deletes a losing protocol's mapping",
	},
	{
		Name:    "natx-keeper-abandoned-deleted",
		File:    "natx/portmap_keeper.go",
		Find:    "\t\t\t\t\t_ = p.unmapBounded(mappers[a.i], a.m)\n",
		Replace: "",
		Pkg:     "./natx",
		Run:     "^TestLosingMappingDeleted$",
		Why:     "an abandoned attempt that mapped late is deleted",
	},
	{
		Name:    "natx-policy-special-targets",
		File:    "natx/policy.go",
		Find:    "in := netscope.Of(a.Addr())\n",
		Replace: "in := netscope.Of(a.Addr())\n\tif ip := a.Addr().Unmap(); ip.IsLinkLocalUnicast() || ip.IsLoopback() || ip.IsUnspecified() {\n\t\treturn true\n\t}\n",
		Pkg:     "./natx",
		Run:     "^(TestPeersRefuseSpecialTargets|TestRemotePolicy)$",
		Why:     "no probes or TURN permissions toward loopback, link-local (metadata) or unspecified targets",
	},
	{
		Name:    "rendezvous-addr-limit",
		File:    "holepunch/rendezvous/server.go",
		Find:    "if as.conns >= s.cfg.maxPerAddr() {",
		Replace: "if false && as.conns >= s.cfg.maxPerAddr() {",
		Pkg:     "./holepunch/rendezvous",
		Run:     "^TestThousandConnsFromOneAddrLeaveRoom$",
		Why:     "one address holds at most MaxConnsPerAddr of the server's connections",
	},
	{
		Name:    "rendezvous-msg-budget",
		File:    "holepunch/rendezvous/server.go",
		Find:    "\td := r.Delay()\n",
		Replace: "\td := r.Delay() * 0\n",
		Pkg:     "./holepunch/rendezvous",
		Run:     "^TestMsgRateBounded$",
		Why:     "the frames one address may send are bounded by its token bucket",
	},
	{
		Name:    "netscope-shared-space",
		File:    "internal/netscope/scope.go",
		Find:    "blk(\"100.64.0.0/10\", Shared, \"RFC 6598\"),",
		Replace: "blk(\"100.64.0.0/10\", Global, \"RFC 6598\"),",
		Pkg:     "./natx",
		Run:     "^(TestOpenVnetMappingScope|TestCheckReachability|TestScopeAgrees)$",
		Why:     "an address in the carrier's shared space 100.64.0.0/10 is not public (natx's mappings behind a carrier NAT)",
	},
	{
		Name:    "netscope-unmap",
		File:    "internal/netscope/scope.go",
		Find:    "a, in.Mapped = a.Unmap(), true",
		Replace: "in.Mapped = true",
		Pkg:     "./internal/netscope",
		Run:     "^TestOf$",
		Why:     "an IPv4-mapped IPv6 address is classified as the IPv4 address it carries",
	},
	{
		Name:    "natx-policy-metadata",
		File:    "natx/policy.go",
		Find:    "case in.Zoned || in.Metadata:",
		Replace: "case in.Zoned:",
		Pkg:     "./natx",
		Run:     "^TestScopeAgrees$",
		Why:     "a peer's candidate on a cloud metadata address is refused even on the node's own network (AllowLAN)",
	},
	{
		Name:    "holepunch-signed-offer",
		File:    "holepunch/identity.go",
		Find:    "if !ed25519.Verify(s.from, signedBytes(body), sig) {",
		Replace: "if false && !ed25519.Verify(s.from, signedBytes(body), sig) {",
		Pkg:     "./holepunch",
		Run:     "^TestSignedOfferRefused$",
		Why:     "an offer or answer counts only with the sender's ed25519 signature",
	},
	{
		Name:    "holepunch-replay",
		File:    "holepunch/identity.go",
		Find:    "if _, dup := m.seen[nonce]; dup {",
		Replace: "if _, dup := m.seen[nonce]; dup && false {",
		Pkg:     "./holepunch",
		Run:     "^(TestSignedOfferRefused|TestReplayMemory|TestIdentityReplayedOffer)$",
		Why:     "a signed message is accepted once (its nonce is remembered)",
	},
	{
		Name:    "rendezvous-key-proof",
		File:    "holepunch/rendezvous/server.go",
		Find:    "if !ed25519.Verify(pub, proofBytes(nonce, id), f.blob) {",
		Replace: "if false && !ed25519.Verify(pub, proofBytes(nonce, id), f.blob) {",
		Pkg:     "./holepunch/rendezvous",
		Run:     "^TestKeyRegistration$",
		Why:     "a peer ID is registered only by the holder of its key (the server's challenge, signed)",
	},
	{
		Name:    "natx-relay-auto-tcp",
		File:    "natx/internal/relay/race.go",
		Find:    "out = append(out, attempt{server: u}, attempt{server: t, after: tcpHeadStart, early: r.cfg.UDPBlocked})",
		Replace: "out = append(out, attempt{server: u})",
		Pkg:     "./natx/internal/relay",
		Run:     "^TestRelayTries$",
		Why:     "a TURN server given without a transport is tried over TCP too, so a node behind a UDP filter gets a relay",
	},
	{
		Name:    "natx-relay-auto-tcp-open",
		File:    "natx/internal/relay/race.go",
		Find:    "out = append(out, attempt{server: u}, attempt{server: t, after: tcpHeadStart, early: r.cfg.UDPBlocked})",
		Replace: "out = append(out, attempt{server: u})",
		Pkg:     "./natx",
		Run:     "^TestRelayAutoTransportFallsBackToTCP$",
		Why:     "the same, through natx.Open: a Listener whose server answers TURN only over TCP gets a relayed candidate",
	},
	{
		Name:    "natx-network-remap",
		File:    "natx/listener_netwatch.go",
		Find:    "if c.Gateway || c.Slept > 0 {",
		Replace: "if c.Slept > 0 {",
		Pkg:     "./natx",
		Run:     "^TestNetworkChangeRemaps$",
		Why:     "a new default gateway makes the Listener map again (the old gateway's mapping is gone with it)",
	},
}
