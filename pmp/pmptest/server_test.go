// Tests of the fake gateway on its own, with raw datagrams and with
// go-nat-pmp, independent of package pmp's client.

package pmptest

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
	"github.com/pion/transport/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchange sends req from a fresh loopback socket and returns the answers
// that arrive within wait.
func exchange(t *testing.T, s *Server, req []byte, wait time.Duration) [][]byte {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(s.AddrPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := c.Read(buf)
		if err != nil {
			return out
		}
		out = append(out, append([]byte(nil), buf[:n]...))
	}
}

func one(t *testing.T, s *Server, req []byte) []byte {
	t.Helper()
	got := exchange(t, s, req, 100*time.Millisecond)
	if len(got) != 1 {
		t.Fatalf("got %d answers, want 1", len(got))
	}
	return got[0]
}

// pcpMapReq builds a MAP request from 127.0.0.1 for UDP port 6000.
func pcpMapReq(t *testing.T, lifetime string) []byte {
	return unhex(t, `02 01 0000 `+lifetime+` 00000000 00000000 0000ffff 7f000001
		0102030405060708090a0b0c 11 000000 1770 1771 00000000 00000000 0000ffff 00000000`)
}

func TestNATPMPLayout(t *testing.T) {
	s := NewServer(t, Options{Epoch: 0x1000})
	// RFC 6886 section 3.2: external address.
	want := unhex(t, `00 80 0000 00001000 cb007101`)
	if got := one(t, s, []byte{0, 0}); !bytes.Equal(got[:4], want[:4]) || !bytes.Equal(got[8:], want[8:]) || getU32(got[4:8])-0x1000 > 2 {
		t.Errorf("address answer %x, want %x", got, want)
	}
	// Section 3.3: map TCP 22, suggest 2222, 7200 s.
	got := one(t, s, unhex(t, `00 02 0000 0016 08ae 00001c20`))
	if !bytes.Equal(got[:4], unhex(t, `00 82 0000`)) || !bytes.Equal(got[8:], unhex(t, `0016 08ae 00001c20`)) {
		t.Errorf("map answer %x", got)
	}
	ms := s.Mappings()
	if len(ms) != 1 || ms[0].Transport != "tcp" || ms[0].Internal != netip.MustParseAddrPort("127.0.0.1:22") ||
		ms[0].External != netip.MustParseAddrPort("203.0.113.1:2222") || ms[0].Protocol != "natpmp" {
		t.Errorf("table %+v", ms)
	}
	// Section 3.4: delete.
	got = one(t, s, unhex(t, `00 02 0000 0016 0000 00000000`))
	if !bytes.Equal(got[8:], unhex(t, `0016 0000 00000000`)) || len(s.Mappings()) != 0 {
		t.Errorf("delete answer %x, table %+v", got, s.Mappings())
	}
	// Unknown opcode: result 5.
	if got := one(t, s, []byte{0, 9}); !bytes.Equal(got[:4], unhex(t, `00 89 0005`)) {
		t.Errorf("opcode 9 answer %x", got)
	}
	if n := s.Requests(); n.NATPMPAddress != 1 || n.NATPMPMap != 2 || n.NATPMPOther != 1 {
		t.Errorf("counts %+v", n)
	}
}

func TestPCPLayout(t *testing.T) {
	s := NewServer(t, Options{})
	got := one(t, s, pcpMapReq(t, `00000e10`))
	want := unhex(t, `02 81 00 00 00000e10`)
	if !bytes.Equal(got[:8], want) || len(got) != 60 || !bytes.Equal(got[24:40], pcpMapReq(t, `00000000`)[24:40]) ||
		!bytes.Equal(got[40:], unhex(t, `1770 1771 00000000 00000000 0000ffff cb007101`)) {
		t.Errorf("MAP answer %x", got)
	}
	// The client address must be the datagram's source.
	bad := pcpMapReq(t, `00000e10`)
	bad[23] = 9
	if got := one(t, s, bad); got[3] != pcpAddressMismatch {
		t.Errorf("address mismatch answer %x", got)
	}
	// Unsupported protocol, opcode; ANNOUNCE.
	badProto := pcpMapReq(t, `00000e10`)
	badProto[36] = 132
	if got := one(t, s, badProto); got[3] != pcpUnsuppProtocol {
		t.Errorf("SCTP answer %x", got)
	}
	op := pcpMapReq(t, `00000e10`)[:24]
	op[1] = 3
	if got := one(t, s, op); got[1] != 0x83 || got[3] != pcpUnsuppOpcode {
		t.Errorf("opcode 3 answer %x", got)
	}
	ann := pcpMapReq(t, `00000000`)[:24]
	ann[1] = 0
	if got := one(t, s, ann); len(got) != 24 || got[1] != 0x80 || got[3] != 0 {
		t.Errorf("ANNOUNCE answer %x", got)
	}
	if got := exchange(t, s, ann[:20], 50*time.Millisecond); len(got) != 0 {
		t.Errorf("short request answered: %x", got)
	}
	if n := s.Requests(); n.PCPMap != 3 || n.PCPOther != 1 || n.PCPAnnounce != 2 {
		t.Errorf("counts %+v", n)
	}
}

func TestDisabledProtocols(t *testing.T) {
	s := NewServer(t, Options{DisablePCP: true})
	got := one(t, s, pcpMapReq(t, `00000e10`))
	if len(got) != 8 || !bytes.Equal(got[:4], unhex(t, `00 81 0001`)) {
		t.Errorf("NAT-PMP-only answer to PCP: %x", got)
	}
	s2 := NewServer(t, Options{DisableNATPMP: true})
	_, err := natpmp.NewClientWithTimeout(s2.Addr().AsSlice(), time.Second).GetExternalAddress()
	if err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("PCP-only box through go-nat-pmp: %v", err)
	}
	s3 := NewServer(t, Options{DisablePCP: true, DisableNATPMP: true})
	if got := exchange(t, s3, []byte{0, 0}, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("a box with neither protocol answered %x", got)
	}
}

func TestGoNATPMPDirect(t *testing.T) {
	s := NewServer(t, Options{External: netip.MustParseAddr("198.51.100.4"), Epoch: 100})
	c := natpmp.NewClientWithTimeout(s.Addr().AsSlice(), time.Second)
	a, err := c.GetExternalAddress()
	if err != nil || a.ExternalIPAddress != [4]byte{198, 51, 100, 4} || a.SecondsSinceStartOfEpoc < 100 {
		t.Fatalf("%+v, %v", a, err)
	}
	m, err := c.AddPortMapping("udp", 5000, 5001, 60)
	if err != nil || m.InternalPort != 5000 || m.MappedExternalPort != 5001 || m.PortMappingLifetimeInSeconds != 60 {
		t.Fatalf("%+v, %v", m, err)
	}
	s.Reboot()
	a, err = c.GetExternalAddress()
	if err != nil || a.SecondsSinceStartOfEpoc > 2 || len(s.Mappings()) != 0 {
		t.Fatalf("after reboot %+v, %v, %+v", a, err, s.Mappings())
	}
}

func TestFaults(t *testing.T) {
	s := NewServer(t, Options{})
	s.SetFaults(Faults{Silent: true})
	if got := exchange(t, s, []byte{0, 0}, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("silent server answered %x", got)
	}
	if n := s.Requests(); n.Dropped != 1 || n.NATPMPAddress != 1 {
		t.Errorf("counts %+v", n)
	}
	s.SetFaults(Faults{MaxLifetime: 90 * time.Second, ExternalPort: 999})
	got := one(t, s, unhex(t, `00 01 0000 1000 1000 00001c20`))
	if getU16(got[10:12]) != 999 || getU32(got[12:16]) != 90 {
		t.Errorf("clamped/forced answer %x", got)
	}
	s.SetFaults(Faults{Malform: Truncated, ThenAnswer: true})
	if got := exchange(t, s, []byte{0, 0}, 100*time.Millisecond); len(got) != 2 || len(got[0]) != 6 || len(got[1]) != 12 {
		t.Errorf("truncated then answer: %x", got)
	}
	s.SetFaults(Faults{Malform: WrongSource})
	if got := exchange(t, s, []byte{0, 0}, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("a connected socket received the wrong-source answer %x", got)
	}
	s.SetFaults(Faults{NATPMPResult: 3})
	if got := one(t, s, []byte{0, 0}); getU16(got[2:4]) != 3 {
		t.Errorf("result 3 answer %x", got)
	}
	// A delayed answer pending at Close does not hold Close up.
	s.SetFaults(Faults{Delay: time.Hour})
	_ = exchange(t, s, []byte{0, 0}, 10*time.Millisecond)
	_ = s.Close()
}

func TestMalform(t *testing.T) {
	pcp := make([]byte, 60)
	pcp[0], pcp[1], pcp[36] = 2, 0x81, 17
	pcp[40], pcp[41] = 0x17, 0x70
	nat := []byte{0, 0x81, 0, 0, 0, 0, 0, 1, 0x17, 0x70, 0x9c, 0x40, 0, 0, 0, 60}
	cases := []struct {
		how      Malformation
		in, diff []byte // diff: the expected output
	}{
		{Truncated, nat, nat[:8]},
		{WrongOpcode, nat, append([]byte{0, 0x83}, nat[2:]...)},
		{WrongVersion, nat, append([]byte{3}, nat[1:]...)},
		{WrongInternalPort, nat, append(append(append([]byte{}, nat[:8]...), 0x17, 0x71), nat[10:]...)},
		{WrongNonce, nat, nat},
	}
	for _, tc := range cases {
		if got := malform(tc.in, tc.how); !bytes.Equal(got, tc.diff) {
			t.Errorf("%v: %x, want %x", tc.how, got, tc.diff)
		}
	}
	for _, how := range []Malformation{WrongNonce, WrongProtocol, WrongInternalPort} {
		if bytes.Equal(malform(pcp, how), pcp) {
			t.Errorf("%v left a PCP answer intact", how)
		}
	}
	if Malformation(99).String() != "Malformation(99)" || WrongSource.String() != "WrongSource" {
		t.Error("String")
	}
}

func TestExpiry(t *testing.T) {
	s := NewServer(t, Options{Faults: Faults{MaxLifetime: time.Second}})
	one(t, s, unhex(t, `00 01 0000 1000 1000 00001c20`))
	if len(s.Mappings()) != 1 {
		t.Fatal("no mapping")
	}
	time.Sleep(1100 * time.Millisecond)
	if ms := s.Mappings(); len(ms) != 0 {
		t.Errorf("expired mapping kept: %+v", ms)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(Options{Net: nopNet{}}); err == nil {
		t.Error("Net without Addr accepted")
	}
	s := NewServer(t, Options{})
	if _, err := Start(Options{Addr: s.AddrPort()}); err == nil {
		t.Error("second server on the same address")
	}
	if !s.Addr().Is4() || !s.Addr().IsLoopback() || s.AddrPort().Port() != Port {
		t.Errorf("address %v", s.AddrPort())
	}
}

// nopNet is a transport.Net that Start must not use.
type nopNet struct{ transport.Net }
