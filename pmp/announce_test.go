package pmp

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// TestParseAnnouncement: a PCP ANNOUNCE response and a NAT-PMP
// announcement are read with their epoch (and external address); a
// request, a failure, another opcode or a wrong length are not
// announcements.
func TestParseAnnouncement(t *testing.T) {
	pcp := make([]byte, 24)
	pcp[0], pcp[1] = pcpVersion, 0x80
	binary.BigEndian.PutUint32(pcp[8:], 7)
	natpmp := []byte{0, 128, 0, 0, 0, 0, 0, 9, 7, 0, 1, 1}
	for _, tc := range []struct {
		name string
		b    []byte
		ok   bool
		want Announcement
	}{
		{"pcp", pcp, true, Announcement{Protocol: PCP, Epoch: 7}},
		{"natpmp", natpmp, true, Announcement{Protocol: NATPMP, Epoch: 9, External: netip.MustParseAddr("7.0.1.1")}},
		{"pcp request", append([]byte{pcpVersion, 0}, pcp[2:]...), false, Announcement{}},
		{"pcp failure", append([]byte{pcpVersion, 0x80, 0, 2}, pcp[4:]...), false, Announcement{}},
		{"pcp map answer", append([]byte{pcpVersion, 0x81}, pcp[2:]...), false, Announcement{}},
		{"pcp short", pcp[:20], false, Announcement{}},
		{"natpmp failure", []byte{0, 128, 0, 3, 0, 0, 0, 9, 7, 0, 1, 1}, false, Announcement{}},
		{"natpmp long", append(natpmp, 0), false, Announcement{}},
		{"natpmp map answer", []byte{0, 129, 0, 0, 0, 0, 0, 9, 7, 0, 1, 1}, false, Announcement{}},
		{"empty", nil, false, Announcement{}},
	} {
		got, ok := parseAnnouncement(tc.b)
		if ok != tc.ok || got != tc.want {
			t.Errorf("%s: got %+v %v, want %+v %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseAnnouncement: any datagram is read without a panic, and what is
// taken is one of the two shapes.
func FuzzParseAnnouncement(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 9, 7, 0, 1, 1})
	f.Add(append([]byte{2, 0x80}, make([]byte, 22)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := parseAnnouncement(b)
		if ok && !(a.Protocol == PCP && len(b) >= 24) && !(a.Protocol == NATPMP && len(b) == 12) {
			t.Fatalf("%x taken as %+v", b, a)
		}
	})
}
