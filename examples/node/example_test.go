package main

import (
	"fmt"
	"os"
)

// Example_turnURL: the -turn grammar. The password runs to the last "@";
// turn without ?transport= is automatic (UDP, and TCP to the same address
// when UDP does not allocate); turns is TURN over TLS, on port 5349 unless
// one is given.
func Example_turnURL() {
	for _, s := range []string{
		"turn:natx:s3cret@turn.example.org",
		"turn:natx:p@ss@198.51.100.7:3478?transport=tcp",
		"turns:natx:s3cret@turn.example.org",
	} {
		r, err := parseTURN(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(r, r.Username) // never the password
	}
	_, err := parseTURN("turns:natx:s3cret@turn.example.org?transport=udp")
	fmt.Println(err)
	// Output:
	// auto://turn.example.org:3478 natx
	// tcp://198.51.100.7:3478 natx
	// tls://turn.example.org:5349 natx
	// "turns:natx:…@turn.example.org?transport=udp": transport=udp not supported with turns
}

// Example_ready: the first line node prints, here for a host behind a
// router that mapped its port with PCP.
func Example_ready() {
	p := newPrinter(os.Stdout)
	p.print(event{Event: "ready", Reachability: "mapped", Addrs: []addr{
		{Kind: "mapped", Addr: "198.51.100.1:4000", Via: "pcp", Verified: true, Reach: "mapped"},
		{Kind: "reflexive", Addr: "198.51.100.1:4000", Via: "192.0.2.10:3478", Reach: "punch-only"},
	}})
	// Output:
	// {"event":"ready","reachability":"mapped","addrs":[{"kind":"mapped","addr":"198.51.100.1:4000","via":"pcp","verified":true,"reach":"mapped"},{"kind":"reflexive","addr":"198.51.100.1:4000","via":"192.0.2.10:3478","verified":false,"reach":"punch-only"}]}
}
