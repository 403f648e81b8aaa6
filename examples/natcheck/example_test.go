package main

import (
	"fmt"
	"net/netip"

	"github.com/nodeconn/natx/stunprobe"
)

// Example_diagnose: a host behind an endpoint-independent NAT whose router
// made a mapping, but on an address in the provider's shared space: two
// layers of NAT. The advice, in French, starts with the provider.
func Example_diagnose() {
	r := &stunprobe.Report{
		UDPv4: stunprobe.TriYes, NAT: stunprobe.TriYes,
		Mapped:  netip.MustParseAddrPort("198.51.100.1:4242"),
		Mapping: stunprobe.EndpointIndependent, Filtering: stunprobe.AddressPortDependent,
	}
	m := mapResult{Tried: true, OK: true, Via: "pcp", External: netip.MustParseAddrPort("100.64.3.2:4242")}
	d := diagnose(r, m, netip.Addr{})
	fmt.Println(d.Verdict, d.Also)
	a := advise(french, d, facts{Report: r, Map: m, Port: 4242, Local: netip.MustParseAddr("192.168.1.2")})
	fmt.Println(a.Headline)
	for i, s := range a.Steps {
		fmt.Printf("%d. %s\n", i+1, s)
	}
	// Output:
	// carrier-nat [nat-punchable]
	// Plusieurs couches de NAT de source : votre fournisseur d'accès exécute un NAT devant votre routeur.
	// 1. Demandez à votre fournisseur d'accès de ne plus appliquer de NAT de source pour vous : demandez une adresse IPv4 publique à vous, ou IPv6.
	// 2. Si cet autre NAT est un routeur à vous (deux routeurs à la suite), configurez le NAT de destination pour le port UDP 4242 sur les deux, ou faites de votre routeur l'hôte DMZ du routeur extérieur.
	// 3. En attendant, natx joint les pairs par perçage de trou quand les NAT le permettent, et sinon par un relais TURN : donnez un serveur TURN à votre nœud.
}
