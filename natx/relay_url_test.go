package natx

import (
	"strings"
	"testing"
)

func TestParseRelayURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want RelayServer
	}{
		{"turn:natx:s3cret@192.0.2.1", RelayServer{Addr: "192.0.2.1:3478", Transport: "udp", Username: "natx", Password: "s3cret"}},
		{"turn:natx:s3:c@r@et@turn.example.org:3479?transport=tcp", RelayServer{Addr: "turn.example.org:3479", Transport: "tcp", Username: "natx", Password: "s3:c@r@et"}},
		{"turns:a%40b:p%2F@[2001:db8::1]", RelayServer{Addr: "[2001:db8::1]:5349", Transport: "tls", Username: "a@b", Password: "p/"}},
	} {
		got, err := ParseRelayURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseRelayURL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "stun:u:p@h", "turn:h:3478", "turn::p@h", "turn:u:p@", "turn:u:p@h:0",
		"turn:u:p@h?transport=sctp", "turns:u:p@h?transport=udp", "turn:u:p@h?x=1"} {
		if r, err := ParseRelayURL(in); err == nil {
			t.Errorf("ParseRelayURL(%q) = %+v, want an error", in, r)
		}
	}
}

// FuzzParseRelayURL: no panic, and an error never shows the password.
func FuzzParseRelayURL(f *testing.F) {
	for _, s := range []string{"turn:u:p@h", "turns:u:pass@h:1?transport=tcp", "turn:u:p@[::1]", "turn:%zz:p@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseRelayURL(s)
		if err == nil {
			return
		}
		at := strings.LastIndexByte(s, '@')
		if at < 0 {
			return
		}
		_, cred, ok := strings.Cut(s[:at], ":")
		if !ok {
			return
		}
		_, pass, ok := strings.Cut(cred, ":")
		if ok && len(pass) >= 6 && strings.Contains(err.Error(), pass) {
			t.Fatalf("error %q shows the password %q", err, pass)
		}
	})
}
