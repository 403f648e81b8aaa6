// This file holds package vnetlab's vnetlab code; the package documentation is in doc.go.

package vnetlab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/nodeconn/natx/internal/pionlog"

	"github.com/pion/logging"
	"github.com/pion/transport/v5/vnet"
)

// Behaviour is an RFC 4787 endpoint dependency, for mapping or filtering.
type Behaviour = vnet.EndpointDependencyType

// The three behaviours of RFC 4787, as vnet names them.
const (
	EndpointIndependent   = vnet.EndpointIndependent
	AddressDependent      = vnet.EndpointAddrDependent
	AddressPortDependent  = vnet.EndpointAddrPortDependent
	defaultMappingTimeout = 30 * time.Second
)

// BehaviourName returns the RFC 4787 name of b, as natx reports it:
// "endpoint-independent", "address-dependent" or "address-and-port-dependent".
func BehaviourName(b Behaviour) string {
	switch b {
	case EndpointIndependent:
		return "endpoint-independent"
	case AddressDependent:
		return "address-dependent"
	case AddressPortDependent:
		return "address-and-port-dependent"
	}
	return "unknown"
}

func shortName(b Behaviour) string {
	switch b {
	case EndpointIndependent:
		return "EI"
	case AddressDependent:
		return "AD"
	case AddressPortDependent:
		return "APD"
	}
	return "?"
}

// NAT describes one NAT router.
type NAT struct {
	Mapping   Behaviour
	Filtering Behaviour
	// Lifetime is how long an idle binding lives. If zero, 30 s.
	Lifetime time.Duration
	// Delay is the one-way delay this router adds to every packet it
	// forwards. If zero, none.
	Delay time.Duration
}

// String returns a short name such as "EIM/APDF".
func (n NAT) String() string {
	return shortName(n.Mapping) + "M/" + shortName(n.Filtering) + "F"
}

// Easy is the common home router (Linux masquerade): endpoint-independent
// mapping, address-and-port-dependent filtering.
var Easy = NAT{Mapping: EndpointIndependent, Filtering: AddressPortDependent}

// Hard is a "symmetric" NAT: endpoint-dependent mapping and filtering.
var Hard = NAT{Mapping: AddressPortDependent, Filtering: AddressPortDependent}

// Matrix returns the nine NATs that vnet can build, one per
// (mapping, filtering) pair, in a stable order.
func Matrix() []NAT {
	var out []NAT
	for _, m := range []Behaviour{EndpointIndependent, AddressDependent, AddressPortDependent} {
		for _, f := range []Behaviour{EndpointIndependent, AddressDependent, AddressPortDependent} {
			out = append(out, NAT{Mapping: m, Filtering: f})
		}
	}
	return out
}

// Config is the shape of the simulated internet.
type Config struct {
	// Delay is the one-way delay of the internet router, added to every
	// packet that crosses the internet. If zero, none.
	Delay time.Duration
	// Loss is the probability, from 0 to 1, that the internet drops a packet.
	// If zero, no loss.
	Loss float64
	// Seed seeds the loss. If zero, 1.
	Seed uint64
	// LoggerFactory receives vnet's own logs. If nil, they are discarded.
	LoggerFactory logging.LoggerFactory
}

// World is one simulated internet. Build it with New and the Add methods,
// then Start it; Close stops every router.
type World struct {
	cfg     Config
	wan     *vnet.Router
	mu      sync.Mutex
	rng     *rand.Rand
	started bool
	servers int
	routers int
	publics int
	dropped uint64
}

// New makes an empty internet.
func New(cfg Config) (*World, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return nil, fmt.Errorf("vnetlab: loss %v out of [0,1]", cfg.Loss)
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.LoggerFactory == nil {
		cfg.LoggerFactory = pionlog.Factory{} // no Log: drops everything
	}
	wan, err := vnet.NewRouter(&vnet.RouterConfig{
		Name:          "internet",
		CIDR:          "7.0.0.0/24",
		MinDelay:      cfg.Delay,
		LoggerFactory: cfg.LoggerFactory,
	})
	if err != nil {
		return nil, err
	}
	w := &World{cfg: cfg, wan: wan, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6e617478))}
	if cfg.Loss > 0 {
		wan.AddChunkFilter(w.lossFilter)
	}
	return w, nil
}

func (w *World) lossFilter(vnet.Chunk) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.rng.Float64() < w.cfg.Loss {
		w.dropped++
		return false
	}
	return true
}

// Dropped reports how many packets the internet's loss has dropped so far.
func (w *World) Dropped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
}

// Internet returns the internet router, for adding chunk filters.
func (w *World) Internet() *vnet.Router { return w.wan }

// buildMu serialises every construction of vnet objects: vnet's
// newMACAddress bumps a package-level counter without a lock (pion/transport
// v5.1.5, vnet/net.go), so two worlds built at once race. This is the one
// piece of package state here, and it guards a dependency's, not ours.
var buildMu sync.Mutex

var errStarted = errors.New("vnetlab: world already started; add hosts before Start")

func (w *World) checkNotStarted() error {
	if w.started {
		return errStarted
	}
	return nil
}

// AddServer adds a host directly on the internet with n addresses (n >= 1),
// for servers such as STUN (RFC 5780 needs two). It returns the host's network
// and its addresses.
func (w *World) AddServer(n int) (*vnet.Net, []netip.Addr, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := w.checkNotStarted(); err != nil {
		return nil, nil, err
	}
	if n < 1 || w.servers+n > 90 {
		return nil, nil, fmt.Errorf("vnetlab: cannot add %d server addresses", n)
	}
	var ips []string
	var addrs []netip.Addr
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{7, 0, 0, byte(10 + w.servers)})
		w.servers++
		ips = append(ips, a.String())
		addrs = append(addrs, a)
	}
	nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: ips})
	if err != nil {
		return nil, nil, err
	}
	if err := w.wan.AddNet(nw); err != nil {
		return nil, nil, err
	}
	return nw, addrs, nil
}

// Host is an end host made by AddHost.
type Host struct {
	// Net is the host's network stack: pass it as a transport.Net.
	Net *vnet.Net
	// IP is the host's own (local) address.
	IP netip.Addr
	// External is the address the internet sees for this host: the outermost
	// NAT's external address, or IP itself for a public host.
	External netip.Addr
	// Gateway is the address of the innermost router on the host's network
	// (the first hop), or the zero Addr for a public host. vnet routers have
	// no stack of their own: a fake gateway service placed on this address
	// with AddGatewayService answers there.
	Gateway netip.Addr
	// HomeWAN is the external address of the innermost router (the
	// router's address on the network outside it): External behind one
	// NAT, an address in the carrier's 100.64.0.0/10 network behind a
	// chain; the zero Addr for a public host. A fake gateway service on
	// that router reports it as its external address.
	HomeWAN netip.Addr
	// Routers are the host's NAT routers, innermost first.
	Routers []*vnet.Router
	// NATs are the NATs as configured, innermost first.
	NATs []NAT
	lan  *vnet.Router
}

// AddHost adds an end host behind the given NATs, listed from the host
// outwards: AddHost(home, carrier) is a home router behind a carrier-grade
// NAT. With no NAT the host is public, on the internet itself.
func (w *World) AddHost(nats ...NAT) (*Host, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := w.checkNotStarted(); err != nil {
		return nil, err
	}
	if len(nats) == 0 {
		if w.publics >= 50 {
			return nil, errors.New("vnetlab: too many public hosts")
		}
		a := netip.AddrFrom4([4]byte{7, 0, 0, byte(200 + w.publics)})
		w.publics++
		nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{a.String()}})
		if err != nil {
			return nil, err
		}
		if err := w.wan.AddNet(nw); err != nil {
			return nil, err
		}
		return &Host{Net: nw, IP: a, External: a}, nil
	}
	if w.routers+len(nats) > 90 {
		return nil, errors.New("vnetlab: too many routers")
	}
	parent := w.wan
	external := netip.AddrFrom4([4]byte{7, 0, 0, byte(100 + w.routers)})
	wanIP := external
	h := &Host{External: external, NATs: append([]NAT(nil), nats...)}
	routers := make([]*vnet.Router, len(nats))
	// Build from the outside in.
	for i := len(nats) - 1; i >= 0; i-- {
		w.routers++
		n := w.routers
		nat := nats[i]
		prefix := netip.AddrFrom4([4]byte{100, 64, byte(n), 0})
		if i == 0 {
			prefix = netip.AddrFrom4([4]byte{192, 168, byte(n), 0})
		}
		lifetime := nat.Lifetime
		if lifetime == 0 {
			lifetime = defaultMappingTimeout
		}
		r, err := vnet.NewRouter(&vnet.RouterConfig{
			Name:      fmt.Sprintf("nat%d-%s", n, nat),
			CIDR:      prefix.String() + "/24",
			StaticIPs: []string{wanIP.String()},
			MinDelay:  nat.Delay,
			NATType: &vnet.NATType{
				MappingBehavior:   nat.Mapping,
				FilteringBehavior: nat.Filtering,
				MappingLifeTime:   lifetime,
			},
			LoggerFactory: w.cfg.LoggerFactory,
		})
		if err != nil {
			return nil, err
		}
		if err := parent.AddRouter(r); err != nil {
			return nil, err
		}
		routers[i] = r
		parent = r
		if i == 0 {
			h.HomeWAN = wanIP
		}
		b := prefix.As4()
		wanIP = netip.AddrFrom4([4]byte{b[0], b[1], b[2], 2})
		if i == 0 {
			h.Gateway = netip.AddrFrom4([4]byte{b[0], b[1], b[2], 1})
		}
	}
	h.IP = wanIP
	nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{h.IP.String()}})
	if err != nil {
		return nil, err
	}
	if err := parent.AddNet(nw); err != nil {
		return nil, err
	}
	h.Net = nw
	h.Routers = routers
	h.lan = parent
	return h, nil
}

// AddGatewayService adds a stack at the host's gateway address (x.y.z.1 on
// its home network), for a fake gateway service such as PCP or UPnP that
// must answer at the router's own address. It returns that stack.
func (w *World) AddGatewayService(h *Host) (*vnet.Net, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if err := w.checkNotStarted(); err != nil {
		return nil, err
	}
	if h.lan == nil {
		return nil, errors.New("vnetlab: a public host has no gateway")
	}
	nw, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{h.Gateway.String()}})
	if err != nil {
		return nil, err
	}
	if err := h.lan.AddNet(nw); err != nil {
		return nil, err
	}
	return nw, nil
}

// Start starts every router. Nothing can be added afterwards.
func (w *World) Start() error {
	if w.started {
		return errStarted
	}
	w.started = true
	return w.wan.Start()
}

// Close stops every router. It is safe to call more than once.
func (w *World) Close() error {
	if !w.started {
		return nil
	}
	w.started = false
	return w.wan.Stop()
}

// Pair is the commonest world: a server with two addresses (for RFC 5780
// and raw observations) on the internet, and one host behind some NATs.
type Pair struct {
	*World
	// Server is the server's stack; ServerIPs its two addresses.
	Server    *vnet.Net
	ServerIPs [2]netip.Addr
	// Host is the host behind the NATs (public with none).
	Host *Host
}

// NewPair builds and starts a Pair. Close it (World.Close) when done.
func NewPair(cfg Config, nats ...NAT) (*Pair, error) {
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	srv, ips, err := w.AddServer(2)
	if err != nil {
		return nil, err
	}
	h, err := w.AddHost(nats...)
	if err != nil {
		return nil, err
	}
	if err := w.Start(); err != nil {
		return nil, err
	}
	return &Pair{World: w, Server: srv, ServerIPs: [2]netip.Addr{ips[0], ips[1]}, Host: h}, nil
}
