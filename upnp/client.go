// This file holds Client: its construction from a vetted SSDP answer, its
// lifecycle (Close), and the wrapper every SOAP action goes through.

package upnp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/huin/goupnp/dcps/internetgateway2"
	"github.com/huin/goupnp/soap"
	"github.com/nodeconn/natx/internal/ledger"
)

// Client talks to one gateway's WAN connection service. Its methods are safe
// for concurrent use. Close deletes the mappings it made.
type Client struct {
	cfg      Config
	gw       netip.Addr
	log      *slog.Logger
	http     *httpClient
	svc      wanService
	fw       *internetgateway2.WANIPv6FirewallControl1 // nil: no pinholes
	location *url.URL
	pinholes *ledger.Ledger // UniqueIDs of the pinholes held (Config.StateDir)

	life   context.Context // cancelled by Close; aborts calls in flight
	cancel context.CancelFunc
	wg     sync.WaitGroup // calls in flight

	mu            sync.Mutex
	closed        bool
	permanentOnly bool               // the gateway answered 725: ask for lease 0 from now on
	noAddAny      bool               // AddAnyPortMapping is not implemented after all
	active        map[string]Mapping // mappings we made and not deleted, by key()
	addr          *pendingAddr       // the latest external address asked for alongside other calls
	holes         map[string]Pinhole // pinholes we made and did not delete, by key()
	swept         bool               // the ledger's stale pinholes were looked for
}

// newClient fetches the description behind ans and picks its service.
func newClient(ctx context.Context, cfg Config, gw netip.Addr, h *httpClient, ans ssdpAnswer, log *slog.Logger) (*Client, error) {
	rctx, cancel := context.WithTimeout(ctx, cfg.requestTimeout())
	defer cancel()
	root, err := h.fetchRoot(rctx, ans.Location)
	if err != nil {
		return nil, err
	}
	svcs, rejected, err := h.resolveServices(root, ans.Location)
	if err != nil {
		return nil, err
	}
	if len(svcs) == 0 {
		if rejected > 0 {
			return nil, fmt.Errorf("%w: %d control URLs are not on the gateway", ErrUnsafeLocation, rejected)
		}
		return nil, fmt.Errorf("%w: no WANIPConnection or WANPPPConnection service", ErrNotSupported)
	}
	c := &Client{
		cfg: cfg, gw: gw, log: log, http: h, svc: svcs[0], location: ans.Location,
		fw: h.resolveFirewall(root, ans.Location), active: make(map[string]Mapping),
		holes: make(map[string]Pinhole),
	}
	if c.pinholes, err = ledger.Open(cfg.StateDir, "upnp-pinholes.json", nil); err != nil {
		if c.pinholes == nil {
			return nil, fmt.Errorf("upnp: StateDir: %w", err)
		}
		log.Warn("upnp: pinhole ledger unreadable; it will be replaced", "err", err)
	}
	c.life, c.cancel = context.WithCancel(context.Background())
	if len(svcs) > 1 {
		c.svc = chooseService(ctx, c, svcs)
	}
	return c, nil
}

// chooseService picks, among several services (resolveServices' order,
// one per control URL), the first that reports a valid external address:
// routers often list a WANPPPConnection and a WANIPConnection of which only
// one is connected. Each is asked once; the chosen one's answer serves the
// first mapping (it is the question AddMapping asks, see addrReuse). When
// none reports an address the first is used: an empty IPv4 address is what
// a working gateway behind a carrier NAT may say (issue 14's facts), not a
// sign that the service is unusable.
func chooseService(ctx context.Context, c *Client, svcs []wanService) wanService {
	for _, s := range svcs {
		c.svc = s
		a, err := c.externalAddr(ctx)
		c.log.Debug("upnp: service probed", "service", s.urn, "addr", a, "err", err)
		if err == nil && a.IsValid() && !a.IsUnspecified() {
			p := &pendingAddr{done: make(chan struct{}), addr: a, at: time.Now()}
			close(p.done)
			c.addr = p
			return s
		}
	}
	return svcs[0]
}

// Service returns the URN of the WAN connection service in use, e.g.
// "urn:schemas-upnp-org:service:WANIPConnection:2".
func (c *Client) Service() string { return c.svc.urn }

// Gateway returns the gateway address.
func (c *Client) Gateway() netip.Addr { return c.gw }

// Location returns the LOCATION URL of the device description.
func (c *Client) Location() string { return c.location.String() }

// LocalAddr returns this host's address on its last connection to the
// gateway: the only internal client AddMapping accepts.
func (c *Client) LocalAddr() netip.Addr { return c.http.localAddr() }

// Close deletes, best effort, every mapping and pinhole this Client made
// and did not delete (including permanent mappings), within Config.RequestTimeout in all,
// and aborts calls in flight. It is idempotent; later calls return nil. It
// returns the deletion errors, if any.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()

	c.mu.Lock()
	todo := make([]Mapping, 0, len(c.active))
	for _, m := range c.active {
		todo = append(todo, m)
	}
	holes := make([]Pinhole, 0, len(c.holes))
	for _, p := range c.holes {
		holes = append(holes, p)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.requestTimeout())
	defer cancel()
	var errs []error
	for _, m := range todo {
		if err := c.deleteMapping(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range holes {
		if err := c.deletePinhole(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	c.http.close()
	return errors.Join(errs...)
}

// begin registers a call; the returned context ends with ctx or Close.
func (c *Client) begin(ctx context.Context) (context.Context, func(), error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, nil, ErrClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.life, cancel)
	return ctx, func() {
		stop()
		cancel()
		c.wg.Done()
	}, nil
}

// soapCall runs one SOAP action with a per-request deadline and turns
// goupnp's errors into ours.
func (c *Client) soapCall(ctx context.Context, action string, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.requestTimeout())
	defer cancel()
	ctx, st := withCallState(ctx)
	start := time.Now()
	err := f(ctx)
	c.log.Debug("upnp: SOAP call", "action", action, "took", time.Since(start), "err", err)
	if err == nil {
		return nil
	}
	var fe *soap.SOAPFaultError
	if errors.As(err, &fe) {
		se := &SOAPError{Action: action, Code: fe.Detail.UPnPError.Errorcode,
			Description: fe.Detail.UPnPError.ErrorDescription}
		if se.Description == "" {
			se.Description = fe.FaultString
		}
		return se
	}
	if e := st.get(); e != nil {
		return fmt.Errorf("upnp: %s: %w", action, e)
	}
	if e := ctx.Err(); e != nil {
		if c.life.Err() != nil {
			e = ErrClosed
		}
		return fmt.Errorf("upnp: %s: %w (%v)", action, e, err)
	}
	return fmt.Errorf("upnp: %s: %w", action, err)
}
