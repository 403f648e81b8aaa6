package netlab

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nodeconn/natx/internal/nat64"
)

// Miniupnpd is a miniupnpd (UPnP IGD, NAT-PMP, PCP) running on a site's home
// router.
type Miniupnpd struct {
	*Process
	site *Site
	opts MiniupnpdOptions
	conf string
}

// MiniupnpdOptions tune the gateway daemon.
type MiniupnpdOptions struct {
	// DisableUPnP turns the UPnP IGD service off (NAT-PMP/PCP only).
	DisableUPnP bool
	// DisableNATPMP turns NAT-PMP and PCP off (UPnP only).
	DisableNATPMP bool
	// MinLifetime and MaxLifetime bound PCP lifetimes. If zero, miniupnpd's
	// defaults (120 s and 86400 s).
	MinLifetime, MaxLifetime int
}

// StartMiniupnpd starts miniupnpd on the site's home router, with
// ext_ifname=wan, listening on lan, secure mode (a client may map only to
// itself), and waits until it serves. It fails the test on error.
func (s *Site) StartMiniupnpd(opts MiniupnpdOptions) *Miniupnpd {
	s.lab.t.Helper()
	m, err := s.startMiniupnpd(opts)
	if err != nil {
		s.lab.t.Fatalf("netlab: miniupnpd on site %d: %v", s.N, err)
	}
	return m
}

func (s *Site) startMiniupnpd(opts MiniupnpdOptions) (*Miniupnpd, error) {
	if s.Router == nil {
		return nil, fmt.Errorf("a %v site has no router", s.Kind)
	}
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	conf := filepath.Join(s.lab.Dir, fmt.Sprintf("miniupnpd-%d.conf", s.N))
	lines := []string{
		"ext_ifname=wan",
		"listening_ip=lan",
		"port=0",
		"enable_upnp=" + yes(!opts.DisableUPnP),
		"enable_natpmp=" + yes(!opts.DisableNATPMP),
		"secure_mode=yes",
		"system_uptime=no",
		"notify_interval=60",
		"clean_ruleset_interval=600",
		fmt.Sprintf("uuid=6e617478-6c61-6200-0000-%012d", s.N),
		"upnp_table_name=filter",
		"upnp_nat_table_name=nat",
		"upnp_forward_chain=miniupnpd",
		"upnp_nat_chain=prerouting_miniupnpd",
		"upnp_nat_postrouting_chain=postrouting_miniupnpd",
		"allow 1024-65535 192.168.0.0/16 1024-65535",
		"deny 0-65535 0.0.0.0/0 0-65535",
	}
	if opts.MinLifetime > 0 {
		lines = append(lines, fmt.Sprintf("min_lifetime=%d", opts.MinLifetime))
	}
	if opts.MaxLifetime > 0 {
		lines = append(lines, fmt.Sprintf("max_lifetime=%d", opts.MaxLifetime))
	}
	if err := writeFile(conf, strings.Join(lines, "\n")+"\n"); err != nil {
		return nil, err
	}
	m := &Miniupnpd{site: s, opts: opts, conf: conf}
	return m, m.start()
}

func (m *Miniupnpd) start() error {
	s := m.site
	pid := filepath.Join(s.lab.Dir, fmt.Sprintf("miniupnpd-%d.pid", s.N))
	cmd := s.Router.Command(context.Background(), "miniupnpd", "-f", m.conf, "-d", "-P", pid)
	p, err := s.lab.Start(fmt.Sprintf("miniupnpd@gw%d", s.N), cmd)
	if err != nil {
		return err
	}
	m.Process = p
	// miniupnpd logs "HTTP listening on port N" once its UPnP side serves,
	// and "Listening for NAT-PMP/PCP traffic on port 5351" for the other.
	want := "HTTP listening on port"
	if m.opts.DisableUPnP {
		want = "Listening for NAT-PMP"
	}
	return p.WaitOutput(want, 10*time.Second)
}

// Restart kills miniupnpd with SIGKILL and starts it again, as a gateway
// reboot does: its UPnP HTTP port changes, its PCP/NAT-PMP epoch restarts
// and, with clearState, its nftables chains and the router's conntrack are
// emptied first (a real reboot forgets every mapping).
func (m *Miniupnpd) Restart(clearState bool) error {
	m.Kill()
	if clearState {
		if err := m.site.Router.NFT("flush chain inet filter miniupnpd\nflush chain inet nat prerouting_miniupnpd\nflush chain inet nat postrouting_miniupnpd\n"); err != nil {
			return err
		}
		if err := m.site.FlushConntrack(); err != nil {
			return err
		}
	}
	return m.start()
}

// Rules returns the router's miniupnpd chains as nft prints them: the
// mappings miniupnpd holds right now.
func (s *Site) Rules() (string, error) {
	if s.Router == nil {
		return "", nil
	}
	var b strings.Builder
	for _, c := range []string{"inet filter miniupnpd", "inet nat prerouting_miniupnpd", "inet nat postrouting_miniupnpd"} {
		out, err := s.Router.Exec(append([]string{"nft", "list", "chain"}, strings.Fields(c)...)...)
		if err != nil {
			return "", err
		}
		b.WriteString(out)
	}
	return b.String(), nil
}

// PinholeRule is how nft prints miniupnpd's match on an IPv6 pinhole's
// internal address and port (PCP and IGD:2 pinholes alike): what Rules
// holds while the pinhole is open.
func PinholeRule(a netip.AddrPort) string {
	return fmt.Sprintf("dport %d @nh,192,128 0x%x ", a.Port(), a.Addr().As16())
}

// ExpectClosed6 fails the test unless an echo server on the site's host at
// dst (IPv6), serving now, is unreachable from the internet: the router's
// firewall drops it.
func (s *Site) ExpectClosed6(t testing.TB, transport string, dst netip.AddrPort) {
	t.Helper()
	var echo io.Closer
	if err := s.Host.Do(func() (err error) {
		echo, err = ServeEcho(transport+"6", dst.Port())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	if err := s.lab.Internet.ProbeEcho(transport, dst); err == nil {
		t.Fatalf("the internet reached %v without a pinhole: the firewall lets everything in", dst)
	}
}

// Coturn is coturn serving STUN (RFC 5780, on ServerA and ServerB) and TURN
// over UDP, TCP and TLS (port TLSPort) in the internet namespace, started
// from docs/coturn.conf (coturn_conf.go).
type Coturn struct {
	*Process
	lab  *Lab
	opts CoturnOptions
	conf string
	// TLS is the lab's CA and coturn's certificate (TURN over TLS).
	TLS *LabTLS
}

// TURNURL is the turn: URL of the lab's coturn at hostport, with its
// credentials (no transport: natx's automatic one).
func TURNURL(hostport string) string {
	return "turn:" + TURNUser + ":" + TURNPass + "@" + hostport
}

// TURN credentials of the lab's coturn (long-term mechanism).
const (
	TURNUser  = "natx"
	TURNPass  = "natx-lab-secret"
	TURNRealm = "natx.lab"
	// STUNPort is coturn's main port on both addresses; STUNPort+1 is its
	// alternate port (RFC 5780 OTHER-ADDRESS).
	STUNPort = 3478
)

// StartCoturn starts coturn in the internet namespace, with the lab's
// long-term user, and waits until it answers. It fails the test on error.
func (l *Lab) StartCoturn() *Coturn {
	l.t.Helper()
	return l.StartCoturnWith(CoturnOptions{})
}

// StartCoturnWith is StartCoturn with options.
func (l *Lab) StartCoturnWith(opts CoturnOptions) *Coturn {
	l.t.Helper()
	c := &Coturn{lab: l, opts: opts}
	if err := c.start(); err != nil {
		l.t.Fatalf("netlab: coturn: %v", err)
	}
	return c
}

// configure writes the lab's certificate and its version of
// docs/coturn.conf, once per Coturn (a restart reuses them).
func (c *Coturn) configure() error {
	if c.conf != "" {
		return nil
	}
	l := c.lab
	t, err := newLabTLS(l.Dir)
	if err != nil {
		return fmt.Errorf("lab certificate: %w", err)
	}
	path, err := coturnConfFile()
	if err != nil {
		return err
	}
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	conf, err := coturnConf(string(doc), c.opts, t.CertFile, t.KeyFile)
	if err != nil {
		return err
	}
	file := filepath.Join(l.Dir, "coturn.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		return err
	}
	c.conf, c.TLS = file, t
	return nil
}

func (c *Coturn) start() error {
	l := c.lab
	if err := c.configure(); err != nil {
		return err
	}
	args := []string{
		"-c", c.conf,
		"--db=" + filepath.Join(l.Dir, "turndb"),
		"--pidfile=" + filepath.Join(l.Dir, "turnserver.pid"),
		"--log-file=stdout", "--simple-log", "--verbose",
	}
	p, err := l.Start("coturn", l.Internet.Command(context.Background(), "turnserver", args...))
	if err != nil {
		return err
	}
	c.Process = p
	// Ready once both addresses are bound for UDP and TCP, and TLS too.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("coturn exited: %v\n%s", p.Wait(), tail(p.Output(), 4000))
		}
		out, err := l.Internet.Exec("ss", "-Hlnu")
		tcp, err2 := l.Internet.Exec("ss", "-Hlnt")
		if err == nil && err2 == nil &&
			strings.Contains(out, ServerA.String()+":3478") && strings.Contains(out, ServerB.String()+":3478") &&
			strings.Contains(out, ServerA.String()+":3479") && strings.Contains(tcp, ServerA.String()+":3478") &&
			strings.Contains(tcp, fmt.Sprintf("%s:%d", ServerA, TLSPort)) &&
			(!c.opts.IPv6 || strings.Contains(out, "["+ServerA6.String()+"]:3478") && strings.Contains(out, "["+ServerB6.String()+"]:3479")) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("coturn not listening after 15 s:\n%s", tail(p.Output(), 4000))
}

// Restart kills coturn and starts it again (every allocation is lost).
func (c *Coturn) Restart() error {
	c.Kill()
	return c.start()
}

// Addr returns coturn's main address on ServerA.
func (c *Coturn) Addr() netip.AddrPort { return netip.AddrPortFrom(ServerA, STUNPort) }

// RelaySockets counts coturn's relay sockets (UDP on ServerA, ports from
// 49152), the mark of allocations it still holds: coturn closes an
// allocation's sockets when it is released (a Refresh with lifetime 0) or
// expires. Allocations of every client of the lab count.
func (c *Coturn) RelaySockets() (int, error) {
	out, err := c.lab.Internet.Exec("ss", "-Huanp")
	if err != nil {
		return 0, fmt.Errorf("ss: %v\n%s", err, out)
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(line, `"turnserver"`) {
			continue
		}
		ap, err := netip.ParseAddrPort(f[3])
		if err == nil && ap.Addr() == ServerA && ap.Port() >= 49152 {
			n++
		}
	}
	return n, nil
}

// WaitNoAllocations waits up to d for coturn to hold no allocation, and
// says how many relay sockets are left if it still does.
func (c *Coturn) WaitNoAllocations(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		n, err := c.RelaySockets()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("coturn still holds %d relay sockets after %v", n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NAT64Prefix is the prefix of an IPv6Only site's NAT64: the well-known one
// (RFC 6052), which the lab's public-looking IPv4 addresses may use.
var NAT64Prefix = netip.MustParsePrefix("64:ff9b::/96")

// NAT64Addr is a written into NAT64Prefix, as a DNS64 resolver names an
// IPv4-only server for an IPv6Only site's host.
func NAT64Addr(a netip.AddrPort) netip.AddrPort {
	six, ok := nat64.Synthesize(NAT64Prefix, a.Addr())
	if !ok {
		panic(fmt.Sprintf("netlab: %v has no NAT64 address", a))
	}
	return netip.AddrPortFrom(six, a.Port())
}

// startNAT64 runs tayga on an IPv6Only site's router: a tun device nat64
// that takes NAT64Prefix and the dynamic pool 192.168.255.0/24 (masqueraded
// behind the WAN address by the router's ruleset). tayga's own addresses:
// 192.168.255.1 and 2a07:7:N:ff::1 (the source of its ICMP errors).
func (l *Lab) startNAT64(s *Site) error {
	dir := filepath.Join(l.Dir, fmt.Sprintf("tayga-%d", s.N))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "tayga.conf")
	if err := writeFile(conf, strings.Join([]string{
		"tun-device nat64",
		"ipv4-addr 192.168.255.1",
		fmt.Sprintf("ipv6-addr 2a07:7:%x:ff::1", s.N),
		"prefix " + NAT64Prefix.String(),
		"dynamic-pool 192.168.255.0/24",
		"data-dir " + dir,
	}, "\n")+"\n"); err != nil {
		return err
	}
	if out, err := s.Router.Exec("tayga", "--mktun", "-c", conf); err != nil {
		return fmt.Errorf("tayga --mktun: %v: %s", err, out)
	}
	if err := s.Router.ipBatch([]string{
		"link set nat64 up",
		"addr add 192.168.254.1/32 dev nat64",
		fmt.Sprintf("addr add 2a07:7:%x:fe::1/128 dev nat64 nodad", s.N),
		"route add 192.168.255.0/24 dev nat64",
		"route add " + NAT64Prefix.String() + " dev nat64",
	}); err != nil {
		return err
	}
	p, err := l.Start(fmt.Sprintf("tayga@gw%d", s.N), s.Router.Command(context.Background(), "tayga", "-d", "-c", conf))
	if err != nil {
		return err
	}
	// The persistent tun device says NO-CARRIER until tayga has it open
	// (tayga's log is block-buffered on a pipe: it cannot tell).
	for deadline := time.Now().Add(5 * time.Second); ; {
		out, err := s.Router.Exec("ip", "link", "show", "nat64")
		if err == nil && !strings.Contains(out, "NO-CARRIER") {
			return nil
		}
		if p.Exited() || time.Now().After(deadline) {
			return fmt.Errorf("tayga did not open its tun device (link %q, output %q)", out, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
