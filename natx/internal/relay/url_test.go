package relay

import (
	"strings"
	"testing"
)

func TestParseRelayURL(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Server
	}{
		{"turn:natx:s3cret@192.0.2.1", Server{Addr: "192.0.2.1:3478", Transport: "", Username: "natx", Password: "s3cret"}},
		{"turn:natx:s3:c@r@et@turn.example.org:3479?transport=tcp", Server{Addr: "turn.example.org:3479", Transport: "tcp", Username: "natx", Password: "s3:c@r@et"}},
		{"turns:a%40b:p%2F@[2001:db8::1]", Server{Addr: "[2001:db8::1]:5349", Transport: "tls", Username: "a@b", Password: "p/"}},
	} {
		got, err := ParseURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "stun:u:p@h", "turn:h:3478", "turn::p@h", "turn:u:p@", "turn:u:p@h:0",
		"turn:u:p@h?transport=sctp", "turns:u:p@h?transport=udp", "turn:u:p@h?x=1"} {
		if r, err := ParseURL(in); err == nil {
			t.Errorf("ParseURL(%q) = %+v, want an error", in, r)
		}
	}
}

// TestParseRelayURLRedacts: every form in which a secret can reach the
// parser, accepted or not, gives an error without it. Mutations caught:
// the former redaction (only USER:PASS@; "turn:S3cretPassw0rd@h" printed
// whole), showing the unknown parameter's name or value, printing the
// scheme of a URL without one ("S3cretPassw0rd@h"), showing the input
// unredacted when it has no "@" (the head of a comma-split password).
func TestParseRelayURLRedacts(t *testing.T) {
	const secret = "S3cretPassw0rd"
	for _, in := range []string{
		"turn:" + secret + "@turn.example.net",                     // P@: a password without a user
		"turn:" + secret + "@turn.example.net:0",                   // P@ with a bad port
		"turn:u:" + secret + "@turn.example.net:99999",             // U:P@, bad port
		"turn:u:" + secret + "%zz@h",                               // bad escape in the password
		"turn:u%zz:" + secret + "@h",                               // bad escape in the user
		"turn:u:" + secret + "@h?transport=sctp",                   // unsupported transport
		"turn:u:p@h?password=" + secret,                            // a query parameter
		"turn:u:p@h?" + secret,                                     // a query key
		"turn:u:p@h?transport=" + secret,                           // transport's value
		"turn:u:p@h?transport=tcp&credential=" + secret + "&x=%zz", // bad query
		"turn:u:" + secret + "?x@h",                                // "?" inside the password
		"turn:u:" + secret,                                         // no "@": the head of "turn:u:PASS,WORD@h" split at ","
		secret + "@h",                                              // the tail of that split
		secret + ":x@h",                                            // no scheme
		"stun:u:" + secret + "@h",                                  // another scheme
		"turns:" + secret + ":@h?transport=udp",                    // the secret where the user goes, an empty password
	} {
		_, err := ParseURL(in)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", in)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[:6]) {
			if strings.HasPrefix(in, "turns:"+secret+":") {
				continue // USER is shown by design; a password in its place cannot be told apart
			}
			t.Errorf("ParseURL(%q): error %q shows the secret", in, err)
		}
	}
}

// FuzzParseRelayURL: no panic, and an error never shows a secret: the
// password of USER:PASS@, the whole credential of a "PASS@" form, and any
// query value but transport's. A secret counts as shown only when the
// error contains it and no longer does once the secret's characters are
// replaced (keeping the characters the parser splits on): an error may
// contain the same letters for another reason, as the old check's false
// alarm on "0aaaa::aaaa::@" did (its scheme "0aaaa" followed by "::"
// contains the password "aaaa::"). Mutation caught: the former
// redactURL (fails on "turn:aaaaaa@h" within seconds).
func FuzzParseRelayURL(f *testing.F) {
	for _, s := range []string{"turn:u:p@h", "turns:u:pass@h:1?transport=tcp", "turn:u:p@[::1]", "turn:%zz:p@h",
		"0aaaa::aaaa::@", "turn:S3cretPassw0rd@h", "turn:u:p@h?password=S3cretPassw0rd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParseURL(s)
		if err == nil {
			return
		}
		for _, span := range relayURLSecrets(s) {
			secret := s[span[0]:span[1]]
			if len(secret) < 6 || !strings.Contains(err.Error(), secret) {
				continue
			}
			masked := s[:span[0]] + maskSecret(secret) + s[span[1]:]
			_, err2 := ParseURL(masked)
			if err2 == nil || !strings.Contains(err2.Error(), secret) {
				t.Fatalf("error %q shows the secret %q (masked input's error: %v)", err, secret, err2)
			}
		}
	})
}

// relayURLSecrets returns the spans of s that hold secrets.
func relayURLSecrets(s string) [][2]int {
	var spans [][2]int
	at := strings.LastIndexByte(s, '@')
	if c := strings.IndexByte(s, ':'); c >= 0 && at > c {
		cred := s[c+1 : at]
		if u := strings.IndexByte(cred, ':'); u >= 0 {
			spans = append(spans, [2]int{c + 1 + u + 1, at})
		} else {
			spans = append(spans, [2]int{c + 1, at})
		}
	}
	if q := strings.IndexByte(s[at+1:], '?'); q >= 0 {
		off := at + 1 + q + 1
		for _, p := range strings.Split(s[off:], "&") {
			if k, _, ok := strings.Cut(p, "="); ok && k != "transport" {
				spans = append(spans, [2]int{off + len(k) + 1, off + len(p)})
			}
			off += len(p) + 1
		}
	}
	return spans
}

// maskSecret replaces a secret's characters, keeping those the parser
// splits on and keeping percent-escapes valid or invalid as they were.
func maskSecret(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case strings.IndexByte(":@?%&=;,#/[] ", c) >= 0:
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			b[i] = 'e'
		default:
			b[i] = 'x'
		}
	}
	return string(b)
}
