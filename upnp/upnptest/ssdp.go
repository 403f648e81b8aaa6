// This file holds the fake's SSDP responder, its rogue twin and the flood of
// junk answers.

package upnptest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ssdpLoop answers M-SEARCH requests until Close.
func (s *Server) ssdpLoop() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := s.ssdp.ReadFromUDP(buf)
		if err != nil {
			select {
			case <-s.done:
				return
			default:
				continue
			}
		}
		st, ok := parseMSearch(buf[:n])
		if !ok {
			continue
		}
		s.count("M-SEARCH")
		if s.opts.SSDPSilent || !s.answers(st) {
			continue
		}
		if s.opts.SSDPDelay <= 0 {
			s.answer(st, from)
			continue
		}
		// Each answer is delayed on its own, as a device that schedules
		// its answers within the MX window does (miniupnpd).
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.sleep(s.opts.SSDPDelay, nil)
			select {
			case <-s.done:
			default:
				s.answer(st, from)
			}
		}()
	}
}

// answer sends the answers to one M-SEARCH for st: the rogue's and the
// flood's when configured, then the device's own.
func (s *Server) answer(st string, from *net.UDPAddr) {
	if s.rogue != nil {
		s.mu.Lock()
		rp := s.roguePort
		s.mu.Unlock()
		loc := fmt.Sprintf("http://%s:%d/rootDesc.xml", s.opts.RogueAddr, rp)
		for i := 0; i < max(1, s.opts.Flood); i++ {
			s.rogue.WriteToUDP(ssdpAnswer(st, loc), from)
		}
	}
	for i := range s.opts.Flood {
		s.ssdp.WriteToUDP(junk(i, st, s.HTTPAddr().String()), from)
	}
	loc := s.opts.Location
	if loc == "" {
		loc = s.Location()
	}
	if s.opts.SSDPAnswer != "" {
		s.ssdp.WriteToUDP(relocated(s.opts.SSDPAnswer, loc), from)
		return
	}
	s.ssdp.WriteToUDP(ssdpAnswer(st, loc), from)
}

// parseMSearch returns the ST of an M-SEARCH request.
func parseMSearch(b []byte) (string, bool) {
	if !bytes.HasPrefix(b, []byte("M-SEARCH ")) {
		return "", false
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(req.Header.Get("St")), true
}

// relocated returns a recorded SSDP answer with its LOCATION header's
// value replaced by loc.
func relocated(answer, loc string) []byte {
	lines := strings.Split(answer, "\r\n")
	for i, l := range lines {
		if name, _, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "LOCATION") {
			lines[i] = name + ": " + loc
		}
	}
	return []byte(strings.Join(lines, "\r\n"))
}

// answers reports whether the device answers a search for st.
func (s *Server) answers(st string) bool {
	if s.opts.Description != "" {
		return st == "ssdp:all" || st == "upnp:rootdevice" || slices.ContainsFunc(s.types, func(t string) bool {
			return versionOf(t, st)
		})
	}
	switch st {
	case "ssdp:all", "upnp:rootdevice", "urn:schemas-upnp-org:device:InternetGatewayDevice:1":
		return true
	case "urn:schemas-upnp-org:device:InternetGatewayDevice:2":
		return s.opts.Version >= 2
	case "urn:schemas-upnp-org:service:WANIPConnection:1":
		return !s.opts.PPP
	case "urn:schemas-upnp-org:service:WANIPConnection:2":
		return !s.opts.PPP && s.opts.Version >= 2
	case "urn:schemas-upnp-org:service:WANPPPConnection:1":
		return s.opts.PPP
	}
	return false
}

// versionOf reports whether a search for st finds type t: the same type
// in the same or a later version (UDA 1.1 §1.3.2: a device answers
// searches for every version it supports).
func versionOf(t, st string) bool {
	i, j := strings.LastIndex(t, ":"), strings.LastIndex(st, ":")
	if i < 0 || j < 0 || t[:i] != st[:j] {
		return false
	}
	have, err1 := strconv.Atoi(t[i+1:])
	want, err2 := strconv.Atoi(st[j+1:])
	if err1 != nil || err2 != nil {
		return t == st
	}
	return want <= have
}

func ssdpAnswer(st, loc string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: %s\r\n"+
		"USN: uuid:8c3a9a1e-0b1d-4c59-9e1a-4e5a7e0d0001::%s\r\nEXT:\r\n"+
		"SERVER: Linux/6 UPnP/1.1 natx-upnptest/1.0\r\nLOCATION: %s\r\n\r\n", st, st, loc)
}

// junk returns the i-th of a cycle of bad SSDP answers.
func junk(i int, st, hostport string) []byte {
	good := string(ssdpAnswer(st, "http://"+hostport+"/rootDesc.xml"))
	switch i % 9 {
	case 0:
		return []byte(good[:len(good)/2]) // truncated
	case 1:
		return []byte(strings.TrimSuffix(good, "\r\n")) // no final CRLF
	case 2:
		return []byte(strings.ReplaceAll(good, "\r\n", "\n")[:40]) // bare LF, cut
	case 3: // duplicate LOCATION
		return []byte(strings.Replace(good, "\r\n\r\n", "\r\nLOCATION: http://127.0.0.99/x\r\n\r\n", 1))
	case 4:
		return bytes.Repeat([]byte("A"), 4200) // over the client's 4096-byte cap, not HTTP
	case 5:
		return []byte("\x00\x01garbage\xff")
	case 6:
		return []byte(strings.Replace(good, "200 OK", "404 Not Found", 1))
	case 7:
		return []byte(strings.Replace(good, "ST: "+st, "ST: urn:evil:device:Toaster:1", 1))
	default: // unsafe LOCATION
		return ssdpAnswer(st, "http://evil.example/rootDesc.xml")
	}
}
