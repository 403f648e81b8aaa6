// This file holds PortMapConfig.UseOnly, the "-via" switch of programs.

package natx

import (
	"fmt"

	"github.com/nodeconn/natx/pmp"
)

// UseOnly restricts c to one mapping protocol: "pcp", "natpmp" or "upnp".
// "" and "auto" leave every protocol c enables (PCP, then NAT-PMP, then
// UPnP last). Any other name is an error and leaves c unchanged.
func (c *PortMapConfig) UseOnly(protocol string) error {
	switch protocol {
	case "", "auto":
	case "pcp":
		c.DisableUPnP = true
		c.PMP.Protocols = []pmp.Protocol{pmp.PCP}
	case "natpmp":
		c.DisableUPnP = true
		c.PMP.Protocols = []pmp.Protocol{pmp.NATPMP}
	case "upnp":
		c.DisablePMP = true
	default:
		return fmt.Errorf("natx: mapping protocol %q, want auto, pcp, natpmp or upnp", protocol)
	}
	return nil
}
