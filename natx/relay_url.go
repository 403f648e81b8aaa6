// This file holds ParseRelayURL, the TURN server syntax of natx's programs
// and of users' configuration files.

package natx

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nodeconn/natx/internal/netaddr"
)

// ParseRelayURL parses one TURN server, as operators write them:
//
//	turn:USER:PASS@HOST[:PORT][?transport=udp|tcp]
//	turns:USER:PASS@HOST[:PORT][?transport=tcp]
//
// The scheme is RFC 7065's; the credentials before the last "@" are this
// natx's addition (RFC 7065 URIs carry none). USER ends at the first
// ":", PASS is the rest; both may be percent-encoded. PORT defaults to 3478
// (turn) or 5349 (turns). "turns" is TURN over TLS; it takes no
// transport other than tcp (no DTLS).
func ParseRelayURL(s string) (RelayServer, error) {
	var r RelayServer
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return r, fmt.Errorf("%q: want the scheme turn or turns", redactRelayURL(s))
	}
	port := 3478
	switch strings.ToLower(scheme) {
	case "turn":
		r.Transport = "udp"
	case "turns":
		r.Transport = "tls"
		port = 5349
	default:
		return r, fmt.Errorf("%q: scheme %q, want turn or turns", redactRelayURL(s), scheme)
	}
	rest, query, _ := strings.Cut(rest, "?")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return r, fmt.Errorf("%q: no USER:PASS@ before the host", redactRelayURL(s))
	}
	user, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || user == "" {
		return r, fmt.Errorf("%q: want USER:PASS@ before the host", redactRelayURL(s))
	}
	var err error
	if r.Username, err = url.PathUnescape(user); err != nil {
		return r, fmt.Errorf("%q: user: %w", redactRelayURL(s), err)
	}
	if r.Password, err = url.PathUnescape(pass); err != nil {
		return r, fmt.Errorf("%q: password is not valid percent-encoding", redactRelayURL(s))
	}
	if r.Addr, err = netaddr.WithDefaultPort(rest[at+1:], port); err != nil {
		return r, fmt.Errorf("%q: %w", redactRelayURL(s), err)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return r, fmt.Errorf("%q: query: %w", redactRelayURL(s), err)
		}
		for k, v := range q {
			if k != "transport" || len(v) != 1 {
				return r, fmt.Errorf("%q: unknown or repeated parameter %q", redactRelayURL(s), k)
			}
			switch t := strings.ToLower(v[0]); {
			case t == "tcp" && r.Transport == "udp":
				r.Transport = "tcp"
			case t == "tcp" && r.Transport == "tls", t == "udp" && r.Transport == "udp":
			default:
				return r, fmt.Errorf("%q: transport=%s not supported with %s", redactRelayURL(s), v[0], scheme)
			}
		}
	}
	return r, nil
}

// redactRelayURL hides the password of a TURN URL in error messages.
func redactRelayURL(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	scheme, rest, ok := strings.Cut(s[:at], ":")
	if !ok {
		return "…" + s[at:]
	}
	user, _, ok := strings.Cut(rest, ":")
	if !ok {
		return s
	}
	return scheme + ":" + user + ":…" + s[at:]
}
