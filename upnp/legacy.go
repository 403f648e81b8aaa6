// This file holds the client of the legacy (TR-064 era) WAN connection
// services, urn:dslforum-org:service:WANIPConnection:1 and
// WANPPPConnection:1: the same actions and arguments as the UPnP Forum's
// WANIPConnection:1, under another service type. goupnp's generated
// clients put their own service type in the SOAPAction header and the
// action's namespace, which such routers refuse, so these calls are made
// with the type the description gave.

package upnp

import (
	"context"
	"strconv"
	"strings"

	"github.com/huin/goupnp/soap"
)

// legacyConn is a wanConn for a dslforum-org service type.
type legacyConn struct {
	soap *soap.SOAPClient
	urn  string // the service type the description gave, sent as is
}

var _ wanConn = (*legacyConn)(nil)

// call performs one action; in and out are pointers to structs of string
// fields named after the arguments (nil out: no output wanted).
func (l *legacyConn) call(ctx context.Context, action string, in, out any) error {
	return l.soap.PerformActionCtx(ctx, l.urn, action, in, out)
}

// mappingKey is the arguments naming a port-mapping entry, in their
// order. goupnp's encoder wants a flat struct of strings: requests that
// carry more arguments spell them out.
type mappingKey struct {
	NewRemoteHost   string
	NewExternalPort string
	NewProtocol     string
}

func key(remoteHost string, extPort uint16, proto string) mappingKey {
	return mappingKey{NewRemoteHost: remoteHost, NewExternalPort: strconv.Itoa(int(extPort)), NewProtocol: proto}
}

func (l *legacyConn) AddPortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string,
	intPort uint16, intClient string, enabled bool, desc string, lease uint32) error {
	in := struct {
		NewRemoteHost             string
		NewExternalPort           string
		NewProtocol               string
		NewInternalPort           string
		NewInternalClient         string
		NewEnabled                string
		NewPortMappingDescription string
		NewLeaseDuration          string
	}{remoteHost, strconv.Itoa(int(extPort)), proto, strconv.Itoa(int(intPort)), intClient, boolArg(enabled), desc,
		strconv.FormatUint(uint64(lease), 10)}
	return l.call(ctx, "AddPortMapping", &in, nil)
}

func (l *legacyConn) DeletePortMappingCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) error {
	in := key(remoteHost, extPort, proto)
	return l.call(ctx, "DeletePortMapping", &in, nil)
}

func (l *legacyConn) GetExternalIPAddressCtx(ctx context.Context) (string, error) {
	var out struct{ NewExternalIPAddress string }
	err := l.call(ctx, "GetExternalIPAddress", &struct{}{}, &out)
	return out.NewExternalIPAddress, err
}

// entryOut is the output of GetSpecificPortMappingEntry, and the tail of
// GetGenericPortMappingEntry's.
type entryOut struct {
	NewInternalPort           string
	NewInternalClient         string
	NewEnabled                string
	NewPortMappingDescription string
	NewLeaseDuration          string
}

// decode parses the entry's numbers and flag, as goupnp's clients do: a
// malformed value is an error.
func (e entryOut) decode() (intPort uint16, enabled bool, lease uint32, err error) {
	if intPort, err = soap.UnmarshalUi2(e.NewInternalPort); err != nil {
		return
	}
	if enabled, err = soap.UnmarshalBoolean(e.NewEnabled); err != nil {
		return
	}
	lease, err = soap.UnmarshalUi4(strings.TrimSpace(e.NewLeaseDuration))
	return
}

func (l *legacyConn) GetSpecificPortMappingEntryCtx(ctx context.Context, remoteHost string, extPort uint16, proto string) (
	intPort uint16, intClient string, enabled bool, desc string, lease uint32, err error) {
	in := key(remoteHost, extPort, proto)
	var out entryOut
	if err = l.call(ctx, "GetSpecificPortMappingEntry", &in, &out); err != nil {
		return
	}
	intPort, enabled, lease, err = out.decode()
	return intPort, out.NewInternalClient, enabled, out.NewPortMappingDescription, lease, err
}

func (l *legacyConn) GetGenericPortMappingEntryCtx(ctx context.Context, index uint16) (
	remoteHost string, extPort uint16, proto string, intPort uint16, intClient string,
	enabled bool, desc string, lease uint32, err error) {
	in := struct{ NewPortMappingIndex string }{strconv.Itoa(int(index))}
	var out struct {
		mappingKey
		entryOut
	}
	if err = l.call(ctx, "GetGenericPortMappingEntry", &in, &out); err != nil {
		return
	}
	if extPort, err = soap.UnmarshalUi2(out.NewExternalPort); err != nil {
		return
	}
	intPort, enabled, lease, err = out.decode()
	return out.NewRemoteHost, extPort, out.NewProtocol, intPort, out.NewInternalClient, enabled,
		out.NewPortMappingDescription, lease, err
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
