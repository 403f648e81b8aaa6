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
		Find:    "if err := c.authenticate(s.key); err != nil {\n\t\ts.p.log.Debug(\"holepunch: check dropped\"",
		Replace: "if err := c.authenticate(s.key); err != nil && false {\n\t\ts.p.log.Debug(\"holepunch: check dropped\"",
		Pkg:     "./holepunch",
		Run:     "^TestHandlePacket$",
		Why:     "a check request counts only with MESSAGE-INTEGRITY under the attempt key",
	},
	{
		Name:    "holepunch-response-mac",
		File:    "holepunch/session.go",
		Find:    "if err := c.authenticate(s.key); err != nil {\n\t\ts.p.log.Debug(\"holepunch: response dropped\"",
		Replace: "if err := c.authenticate(s.key); err != nil && false {\n\t\ts.p.log.Debug(\"holepunch: response dropped\"",
		Pkg:     "./holepunch",
		Run:     "^TestForgedResponseIgnored$",
		Why:     "a check response counts only with MESSAGE-INTEGRITY under the attempt key",
	},
}
