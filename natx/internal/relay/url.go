// This file holds ParseURL, the TURN server syntax of natx's programs
// and of users' configuration files.

package relay

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/nodeconn/natx/internal/netaddr"
)

// ParseURL parses one TURN server URL, turn:USER:PASS@HOST[:PORT] or
// turns:…, with an optional ?transport=: natx.ParseRelayURL, whose doc
// states the syntax and what its errors hide (redactURL).
func ParseURL(s string) (Server, error) {
	var r Server
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%q: %s", redactURL(s), fmt.Sprintf(format, a...))
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return r, bad("want the scheme turn or turns")
	}
	port := 3478
	switch strings.ToLower(scheme) {
	case "turn":
		r.Transport = "" // automatic: UDP, and TCP when UDP does not answer
	case "turns":
		r.Transport = "tls"
		port = 5349
	default:
		return r, bad("the scheme is not turn or turns")
	}
	rest, query, _ := strings.Cut(rest, "?")
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return r, bad("no USER:PASS@ before the host")
	}
	user, pass, ok := strings.Cut(rest[:at], ":")
	if !ok || user == "" {
		return r, bad("want USER:PASS@ before the host")
	}
	var err error
	if r.Username, err = url.PathUnescape(user); err != nil {
		return r, bad("user is not valid percent-encoding")
	}
	if r.Password, err = url.PathUnescape(pass); err != nil {
		return r, bad("password is not valid percent-encoding")
	}
	if r.Addr, err = netaddr.WithDefaultPort(rest[at+1:], port); err != nil {
		return r, fmt.Errorf("%q: %w", redactURL(s), err)
	}
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return r, bad("the query is not valid")
		}
		for k, v := range q {
			if k != "transport" || len(v) != 1 {
				return r, bad("a parameter other than transport, or a repeated one")
			}
			switch t := strings.ToLower(v[0]); {
			case (t == "tcp" || t == "udp") && r.Transport == "":
				r.Transport = t
			case t == "tcp" && r.Transport == "tls":
			default:
				return r, bad("transport=%s not supported with %s", shownValue(v[0]), strings.ToLower(scheme))
			}
		}
	}
	return r, nil
}

// redacted stands for the part of a TURN URL an error leaves out.
const redacted = "…"

// redactURL returns s as errors may show it: the scheme only when it
// is turn or turns, the user only when a ":" follows it, never what comes
// after that ":" up to the last "@" (a password, or a secret written
// without a user; "?" there does not end it), the host, and the query with
// every value but transport's hidden. Without any "@" everything after the
// scheme is hidden: a part of a comma-split list may be a password's tail.
func redactURL(s string) string {
	const hidden = redacted
	scheme, rest, ok := strings.Cut(s, ":")
	if l := strings.ToLower(scheme); !ok || (l != "turn" && l != "turns") {
		scheme = hidden
	}
	if !ok {
		rest = s
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return scheme + ":" + hidden
	}
	cred, tail := rest[:at], rest[at+1:]
	shown := hidden
	if user, _, ok := strings.Cut(cred, ":"); ok && !strings.Contains(user, "?") {
		shown = user + ":" + hidden
	}
	host, query, hasQuery := strings.Cut(tail, "?")
	out := scheme + ":" + shown + "@" + host
	if !hasQuery {
		return out
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if k == "transport" {
			parts[i] = k + "=" + shownValue(v)
		} else {
			parts[i] = hidden
		}
	}
	return out + "?" + strings.Join(parts, "&")
}

// shownValue returns a transport value for an error: itself when it is a
// short word, else "…".
func shownValue(v string) string {
	if len(v) == 0 || len(v) > 8 {
		return redacted
	}
	for _, c := range v {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return redacted
		}
	}
	return v
}
