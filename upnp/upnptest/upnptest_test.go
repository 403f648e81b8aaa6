// Tests of the fake itself, through raw SSDP and HTTP.

package upnptest

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSSDPAnswers(t *testing.T) {
	s := NewServer(t, Options{Version: 1})
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.Addr(), s.SSDPPort()))
	ask := func(st string) string {
		conn.WriteTo([]byte("M-SEARCH * HTTP/1.1\r\nHOST: x\r\nMAN: \"ssdp:discover\"\r\nST: "+st+"\r\n\r\n"), dst)
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		buf := make([]byte, 2048)
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(buf[:n])), nil)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Get("Location")
	}
	if loc := ask("urn:schemas-upnp-org:device:InternetGatewayDevice:1"); loc != s.Location() {
		t.Fatalf("IGD:1 answered %q, want %q", loc, s.Location())
	}
	if loc := ask("urn:schemas-upnp-org:device:InternetGatewayDevice:2"); loc != "" {
		t.Fatalf("an IGD:1 device answered a search for IGD:2 with %q", loc)
	}
	if s.Count("M-SEARCH") != 2 {
		t.Fatalf("counted %d M-SEARCH", s.Count("M-SEARCH"))
	}
}

func TestDescriptionAndReboot(t *testing.T) {
	s := NewServer(t, Options{PPP: true})
	resp, err := http.Get(s.Location())
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	resp.Body.Close()
	if !strings.Contains(b.String(), "urn:schemas-upnp-org:service:WANPPPConnection:1") {
		t.Fatalf("description lacks the PPP service:\n%s", b.String())
	}
	old := s.Location()
	if err := s.Reboot(true); err != nil {
		t.Fatal(err)
	}
	if s.Location() == old {
		t.Fatal("reboot kept the port")
	}
	if _, err := http.Get(old); err == nil {
		t.Fatal("old location still answers")
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestStartRefusesNonLoopback(t *testing.T) {
	if _, err := Start(Options{Addr: netip.MustParseAddr("192.0.2.1")}); err == nil {
		t.Fatal("started on a non-loopback address")
	}
}

// TestRecordingsIndexed: every file under testdata/routers belongs to a
// recording of index.txt (which says where it came from), and every
// recording has a file.
func TestRecordingsIndexed(t *testing.T) {
	names := map[string]bool{}
	for _, r := range Recordings() {
		if r.Description == "" && r.SSDP == "" {
			t.Errorf("recording %s has no file", r.Name)
		}
		if r.Source == "" || r.Family == "" {
			t.Errorf("recording %s: no source or family", r.Name)
		}
		names[r.Name] = true
	}
	files, err := routerFiles.ReadDir("testdata/routers")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		n := f.Name()
		if n == "index.txt" {
			continue
		}
		if stem := strings.TrimSuffix(strings.TrimSuffix(n, ".xml"), ".ssdp"); !names[stem] {
			t.Errorf("%s is not in index.txt", n)
		}
	}
}
