// This file holds the fake's HTTP side: the device description, SOAP
// control with the port-mapping table, and the hostile answers.

package upnptest

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const soapNS = "http://schemas.xmlsoap.org/soap/envelope/"

// handler serves one HTTP server (the genuine one, or the rogue's).
func (s *Server) handler(rogue bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rogue {
			s.count("rogue")
		}
		s.sleep(s.opts.Delay, r.Context().Done())
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/rootDesc.xml":
			if !rogue {
				s.count("description")
			}
			if s.opts.HostileAction == "" && s.opts.Hostile != HostileNone {
				s.hostile(w, r, rootPrefix)
				return
			}
			w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
			io.WriteString(w, s.description())
		case r.Method == http.MethodPost && !rogue:
			s.control(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

func (s *Server) serviceURN() string {
	switch {
	case s.opts.PPP:
		return "urn:schemas-upnp-org:service:WANPPPConnection:1"
	case s.opts.Version >= 2:
		return "urn:schemas-upnp-org:service:WANIPConnection:2"
	}
	return "urn:schemas-upnp-org:service:WANIPConnection:1"
}

// description renders the root device description, shaped like miniupnpd's.
func (s *Server) description() string {
	if s.opts.Description != "" {
		return s.opts.Description
	}
	v := s.opts.Version
	ctl := s.opts.ControlURL
	if ctl == "" {
		ctl = "/ctl/IPConn"
		if s.opts.PPP {
			ctl = "/ctl/PPPConn"
		}
	}
	var fw string
	if s.opts.IPv6Firewall {
		fw = `<service><serviceType>` + fwURN + `</serviceType><serviceId>urn:upnp-org:serviceId:WANIPv6Firewall1</serviceId>` +
			`<SCPDURL>/WANIP6FC.xml</SCPDURL><controlURL>` + fwPath + `</controlURL><eventSubURL>/evt/IP6FCtl</eventSubURL></service>`
	}
	var urlBase string
	if s.opts.URLBase != "" {
		urlBase = "<URLBase>" + xmlEscape(s.opts.URLBase) + "</URLBase>"
	}
	return fmt.Sprintf(`<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>1</minor></specVersion>%s
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:%d</deviceType>
<friendlyName>natx upnptest</friendlyName><manufacturer>natx</manufacturer><modelName>upnptest</modelName>
<UDN>uuid:8c3a9a1e-0b1d-4c59-9e1a-4e5a7e0d0001</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><SCPDURL>/L3F.xml</SCPDURL>
<controlURL>/ctl/L3F</controlURL><eventSubURL>/evt/L3F</eventSubURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:%d</deviceType>
<friendlyName>WANDevice</friendlyName><UDN>uuid:8c3a9a1e-0b1d-4c59-9e1a-4e5a7e0d0002</UDN>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId><SCPDURL>/WANCfg.xml</SCPDURL>
<controlURL>/ctl/CmnIfCfg</controlURL><eventSubURL>/evt/CmnIfCfg</eventSubURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:%d</deviceType>
<friendlyName>WANConnectionDevice</friendlyName><UDN>uuid:8c3a9a1e-0b1d-4c59-9e1a-4e5a7e0d0003</UDN>
<serviceList><service><serviceType>%s</serviceType><serviceId>urn:upnp-org:serviceId:WANConn1</serviceId>
<SCPDURL>/WANConn.xml</SCPDURL><controlURL>%s</controlURL><eventSubURL>/evt/Conn</eventSubURL></service>%s</serviceList>
</device></deviceList></device></deviceList></device></root>
`, urlBase, v, v, v, s.serviceURN(), xmlEscape(ctl), fw)
}

func xmlEscape(v string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(v))
	return b.String()
}

// control handles one SOAP request.
func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	sa := strings.Trim(r.Header.Get("Soapaction"), `" `)
	urn, action, ok := strings.Cut(sa, "#")
	if !ok {
		soapFault(w, 401, "Invalid Action")
		return
	}
	s.count(action)
	s.count(action + " " + r.URL.Path)
	if s.opts.HostileAction == action && s.opts.Hostile != HostileNone {
		s.hostile(w, r, fmt.Sprintf(`<?xml version="1.0"?><s:Envelope xmlns:s="%s"><s:Body>`, soapNS))
		return
	}
	if !s.serves(urn, r.URL.Path) {
		soapFault(w, 401, "Invalid Action")
		return
	}
	args, err := soapArgs(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		soapFault(w, 402, "Invalid Args")
		return
	}
	if f, ok := s.takeFault(action); ok {
		if f.Body != "" {
			w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, f.Body)
			return
		}
		soapFault(w, f.Code, "injected fault")
		return
	}
	if body, ok := s.opts.Answers[action]; ok {
		w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
		io.WriteString(w, body)
		return
	}
	requester, _ := netip.ParseAddrPort(r.RemoteAddr)
	out, code := s.act(urn, r.URL.Path, action, args, requester.Addr().Unmap())
	s.sleep(s.answerDelay(), r.Context().Done())
	if code != 0 {
		soapFault(w, code, errorName(code))
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?>`+"\n"+`<s:Envelope xmlns:s="%s" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="%s">`,
		soapNS, action, urn)
	for i := 0; i+1 < len(out); i += 2 {
		fmt.Fprintf(&b, "<%s>%s</%s>", out[i], xmlEscape(out[i+1]), out[i])
	}
	fmt.Fprintf(&b, "</u:%sResponse></s:Body></s:Envelope>\r\n", action)
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	io.WriteString(w, b.String())
}

// serves reports whether SOAP actions of service type urn are served at
// path.
func (s *Server) serves(urn, path string) bool {
	if s.opts.Description == "" {
		return urn == s.serviceURN() || (s.opts.IPv6Firewall && urn == fwURN && path == fwPath)
	}
	for _, sv := range s.services {
		if sv.urn == urn && sv.path == path {
			return true
		}
	}
	return false
}

// The IPv6 firewall control service of the generated description.
const (
	fwURN  = "urn:schemas-upnp-org:service:WANIPv6FirewallControl:1"
	fwPath = "/ctl/IP6FCtl"
)

// wanTypes are the WAN connection service types a Description is served
// for.
var wanTypes = map[string]bool{
	"urn:schemas-upnp-org:service:WANIPConnection:1":  true,
	"urn:schemas-upnp-org:service:WANIPConnection:2":  true,
	"urn:schemas-upnp-org:service:WANPPPConnection:1": true,
	"urn:dslforum-org:service:WANIPConnection:1":      true,
	"urn:dslforum-org:service:WANPPPConnection:1":     true,
}

// describedServices reads a description's WAN connection services (type
// and control URL path) and all its device and service types.
func describedServices(desc string) (svcs []service, types []string, err error) {
	dec := xml.NewDecoder(strings.NewReader(desc))
	var text strings.Builder
	var cur service
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return svcs, types, nil
		}
		if err != nil {
			return nil, nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			text.Reset()
			if t.Name.Local == "service" {
				cur = service{}
			}
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			v := strings.TrimSpace(text.String())
			switch t.Name.Local {
			case "deviceType":
				types = append(types, v)
			case "serviceType":
				cur.urn = v
				types = append(types, v)
			case "controlURL":
				u, err := url.Parse(v)
				if err != nil {
					return nil, nil, err
				}
				cur.path = u.Path
			case "service":
				if wanTypes[cur.urn] {
					svcs = append(svcs, cur)
				}
			}
		}
	}
}

// takeFault returns the first matching injected fault, if any.
func (s *Server) takeFault(action string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Action != action {
			continue
		}
		if f.Count > 0 {
			if f.Count == 1 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			} else {
				s.faults[i].Count--
			}
		}
		return f, true
	}
	return Fault{}, false
}

// soapArgs reads the arguments of the action element in a SOAP envelope.
func soapArgs(r io.Reader) (map[string]string, error) {
	dec := xml.NewDecoder(r)
	args := map[string]string{}
	depth, name := 0, ""
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return args, nil
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			name = t.Name.Local
			text.Reset()
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			if depth == 4 { // Envelope > Body > Action > Arg
				args[name] = strings.TrimSpace(text.String())
			}
			depth--
		}
	}
}

// act performs a SOAP action on the table. It returns the output arguments
// as name, value pairs, or a UPnP error code.
func (s *Server) act(urn, path, action string, a map[string]string, requester netip.Addr) ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	proto := strings.ToUpper(a["NewProtocol"])
	ext64, extErr := strconv.ParseUint(a["NewExternalPort"], 10, 16)
	ext := uint16(ext64)
	if urn == fwURN {
		return s.pinholeAct(action, a, requester)
	}
	switch action {
	case "GetExternalIPAddress":
		if ip, ok := s.opts.ServiceExternalIP[path]; ok {
			return []string{"NewExternalIPAddress", ip}, 0
		}
		return []string{"NewExternalIPAddress", s.extIP}, 0
	case "AddPortMapping", "AddAnyPortMapping":
		if action == "AddAnyPortMapping" && urn != "urn:schemas-upnp-org:service:WANIPConnection:2" {
			return nil, 401
		}
		in64, err1 := strconv.ParseUint(a["NewInternalPort"], 10, 16)
		lease64, err2 := strconv.ParseUint(a["NewLeaseDuration"], 10, 32)
		client, err3 := netip.ParseAddr(a["NewInternalClient"])
		if extErr != nil || err1 != nil || err2 != nil || err3 != nil || in64 == 0 || (proto != "TCP" && proto != "UDP") {
			return nil, 402
		}
		if ext == 0 {
			return nil, 716
		}
		if !s.opts.AllowForeignClient && client.Unmap() != requester {
			return nil, 606
		}
		lease := uint32(lease64)
		if lease != 0 && s.opts.OnlyPermanentLeases {
			return nil, 725
		}
		if lease != 0 && s.opts.LeaseOverride > 0 {
			lease = uint32(s.opts.LeaseOverride / time.Second)
		}
		inPort := uint16(in64)
		if s.opts.RewriteInternalPort != 0 {
			inPort = s.opts.RewriteInternalPort
		}
		e := Entry{Protocol: proto, ExternalPort: ext, InternalClient: client.String(), InternalPort: inPort,
			Description: a["NewPortMappingDescription"], Lease: lease, Enabled: true}
		if action == "AddAnyPortMapping" {
			for s.holder(proto, e.ExternalPort, e.InternalClient) {
				if e.ExternalPort++; e.ExternalPort < 1024 {
					e.ExternalPort = 1024
				}
				if e.ExternalPort == ext {
					return nil, 728 // NoPortMapsAvailable
				}
			}
		} else if s.holder(proto, ext, e.InternalClient) {
			return nil, 718
		}
		s.put(e)
		if action == "AddAnyPortMapping" {
			return []string{"NewReservedPort", strconv.Itoa(int(e.ExternalPort))}, 0
		}
		return nil, 0
	case "DeletePortMapping":
		i := s.find(proto, ext)
		if i < 0 {
			return nil, 714
		}
		s.table = append(s.table[:i], s.table[i+1:]...)
		return nil, 0
	case "GetSpecificPortMappingEntry":
		i := s.find(proto, ext)
		if i < 0 {
			return nil, 714
		}
		return entryArgs(s.table[i], false), 0
	case "GetGenericPortMappingEntry":
		idx, err := strconv.ParseUint(a["NewPortMappingIndex"], 10, 16)
		if err != nil {
			return nil, 402
		}
		if int(idx) >= len(s.table) {
			return nil, 713
		}
		return entryArgs(s.table[idx], true), 0
	}
	return nil, 401
}

// pinholeAct performs an action of WANIPv6FirewallControl:1, as
// miniupnpd 2.3 does (upnpsoap.c), but for the hostile modes. s.mu is held.
func (s *Server) pinholeAct(action string, a map[string]string, requester netip.Addr) ([]string, int) {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	if action == "GetFirewallStatus" {
		return []string{"FirewallEnabled", flag(!s.opts.FirewallDisabled),
			"InboundPinholeAllowed", flag(!s.opts.InboundPinholeDisallowed)}, 0
	}
	switch {
	case s.opts.FirewallDisabled:
		return nil, 702
	case s.opts.InboundPinholeDisallowed:
		return nil, 703
	}
	lease64, leaseErr := strconv.ParseUint(a["LeaseTime"], 10, 32)
	if a["NewLeaseTime"] != "" {
		lease64, leaseErr = strconv.ParseUint(a["NewLeaseTime"], 10, 32)
	}
	badLease := leaseErr != nil || lease64 > 86400 || (lease64 == 0 && !s.opts.PinholeLeaseZero)
	find := func() (int, int) {
		id, err := strconv.ParseUint(a["UniqueID"], 10, 16)
		if err != nil {
			return -1, 402
		}
		for i, h := range s.holes {
			if h.UniqueID == uint16(id) {
				if !s.opts.PinholeAnyClient && h.InternalClient != requester.String() {
					return -1, 606
				}
				return i, 0
			}
		}
		return -1, 704
	}
	switch action {
	case "AddPinhole":
		client, err := netip.ParseAddr(a["InternalClient"])
		port, err2 := strconv.ParseUint(a["InternalPort"], 10, 16)
		proto, err3 := strconv.Atoi(a["Protocol"])
		switch {
		case err != nil || !client.Is6() || client.Is4In6() || err2 != nil || err3 != nil || badLease:
			return nil, 402
		case port == 0:
			return nil, 706
		case proto != 6 && proto != 17:
			return nil, 705
		case !s.opts.PinholeAnyClient && client != requester:
			return nil, 606
		}
		e := PinholeEntry{InternalClient: client.String(), InternalPort: uint16(port), Protocol: proto, Lease: uint32(lease64)}
		for i, h := range s.holes {
			if h.InternalClient == e.InternalClient && h.InternalPort == e.InternalPort && h.Protocol == e.Protocol {
				s.holes[i].Lease = e.Lease // the same pinhole: its lease is extended
				return []string{"UniqueID", strconv.Itoa(int(h.UniqueID))}, 0
			}
		}
		s.nextID++
		e.UniqueID = s.nextID
		if s.opts.PinholeReuseID && len(s.holes) > 0 {
			e.UniqueID = s.holes[0].UniqueID
		}
		s.holes = append(s.holes, e)
		id := strconv.Itoa(int(e.UniqueID))
		if s.opts.PinholeIDAnswer != "" {
			id = s.opts.PinholeIDAnswer
		}
		return []string{"UniqueID", id}, 0
	case "UpdatePinhole":
		i, code := find()
		if code != 0 {
			return nil, code
		}
		if badLease {
			return nil, 402
		}
		s.holes[i].Lease = uint32(lease64)
		return nil, 0
	case "CheckPinholeWorking":
		if s.opts.NoCheckPinholeWorking {
			return nil, 602
		}
		i, code := find()
		switch {
		case code != 0:
			return nil, code
		case s.holes[i].Packets == 0:
			return nil, 709
		}
		return []string{"IsWorking", "1"}, 0
	case "DeletePinhole":
		i, code := find()
		if code != 0 {
			return nil, code
		}
		s.holes = append(s.holes[:i], s.holes[i+1:]...)
		return nil, 0
	}
	return nil, 401
}

// holder reports whether another client holds proto/ext.
func (s *Server) holder(proto string, ext uint16, client string) bool {
	i := s.find(proto, ext)
	return i >= 0 && s.table[i].InternalClient != client
}

func (s *Server) find(proto string, ext uint16) int {
	for i, e := range s.table {
		if e.Protocol == proto && e.ExternalPort == ext {
			return i
		}
	}
	return -1
}

// put adds or replaces an entry.
func (s *Server) put(e Entry) {
	if i := s.find(e.Protocol, e.ExternalPort); i >= 0 {
		s.table[i] = e
		return
	}
	s.table = append(s.table, e)
}

func entryArgs(e Entry, generic bool) []string {
	var out []string
	if generic {
		out = append(out, "NewRemoteHost", "", "NewExternalPort", strconv.Itoa(int(e.ExternalPort)),
			"NewProtocol", e.Protocol)
	}
	enabled := "0"
	if e.Enabled {
		enabled = "1"
	}
	return append(out, "NewInternalPort", strconv.Itoa(int(e.InternalPort)), "NewInternalClient", e.InternalClient,
		"NewEnabled", enabled, "NewPortMappingDescription", e.Description,
		"NewLeaseDuration", strconv.FormatUint(uint64(e.Lease), 10))
}

func errorName(code int) string {
	switch code {
	case 401:
		return "Invalid Action"
	case 402:
		return "Invalid Args"
	case 606:
		return "Action not authorized"
	case 713:
		return "SpecifiedArrayIndexInvalid"
	case 714:
		return "NoSuchEntryInArray"
	case 716:
		return "WildCardNotPermittedInExtPort"
	case 718:
		return "ConflictInMappingEntry"
	case 725:
		return "OnlyPermanentLeasesSupported"
	case 728:
		return "NoPortMapsAvailable"
	case 702:
		return "FirewallDisabled"
	case 703:
		return "InboundPinholeNotAllowed"
	case 704:
		return "NoSuchEntry"
	case 705:
		return "ProtocolNotSupported"
	case 706:
		return "InternalPortWildcardingNotAllowed"
	case 709:
		return "NoTrafficReceived"
	case 602:
		return "Optional Action Not Implemented"
	}
	return "Error"
}

func soapFault(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", `text/xml; charset="utf-8"`)
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0"?>`+"\n"+`<s:Envelope xmlns:s="%s" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`+"\r\n",
		soapNS, code, xmlEscape(desc))
}

const rootPrefix = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0">`

// hostile writes the hostile answer selected by Options.Hostile. Bodies that
// go on and on start with prefix, the opening of a valid document, so that a
// parser must read on.
func (s *Server) hostile(w http.ResponseWriter, r *http.Request, prefix string) {
	switch s.opts.Hostile {
	case HostileHugeLength:
		w.Header().Set("Content-Length", strconv.Itoa(100<<20))
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<root>")
	case HostileHugeBody:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, prefix)
		chunk := []byte(strings.Repeat("<a></a>", 1024))
		for sent := 0; sent < 100<<20; sent += len(chunk) {
			n, err := w.Write(chunk)
			s.addHostile(n)
			if err != nil {
				return
			}
		}
	case HostileEndlessBody:
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		io.WriteString(w, prefix)
		for {
			n, err := io.WriteString(w, " ")
			s.addHostile(n)
			if err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			s.sleep(5*time.Millisecond, r.Context().Done())
			select {
			case <-r.Context().Done():
				return
			case <-s.done:
				return
			default:
			}
		}
	case HostileDeepNesting:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, prefix+strings.Repeat("<a>", 20000)+strings.Repeat("</a>", 20000))
	case HostileEntities:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `<?xml version="1.0"?><!DOCTYPE root [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>`+
			`<root xmlns="urn:schemas-upnp-org:device-1-0"><device><friendlyName>&c;</friendlyName></device></root>`)
	case HostileGarbage:
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "\x00\xffthis is not XML <<<")
	case HostileRedirect:
		http.Redirect(w, r, s.opts.RedirectTo, http.StatusFound)
	case HostileEmpty:
		w.WriteHeader(http.StatusOK)
	}
}
