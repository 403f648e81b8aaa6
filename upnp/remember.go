// This file holds the gateway's description URL remembered in
// Config.StateDir, so that a later run skips the SSDP search.

package upnp

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
)

// rememberFile is the file, in Config.StateDir, of the description URL of
// the last gateway found.
const rememberFile = "upnp-gateway.json"

// maxRememberFile bounds what recall reads.
const maxRememberFile = 4096

// remembered is rememberFile's content.
type remembered struct {
	Gateway  string `json:"gateway"` // with the zone of a link-local gateway
	Location string `json:"location"`
	ST       string `json:"st"`
	USN      string `json:"usn,omitempty"`
}

// recall returns the answer remembered in dir for the gateway gw, vetted
// as an SSDP answer's LOCATION is (the file is trusted no more than the
// network), and false when there is none: no dir, no file, another
// gateway, or anything that does not pass.
func recall(dir string, gw netip.Addr) (ssdpAnswer, bool) {
	if dir == "" {
		return ssdpAnswer{}, false
	}
	b, err := os.ReadFile(filepath.Join(dir, rememberFile))
	if err != nil || len(b) > maxRememberFile {
		return ssdpAnswer{}, false
	}
	var r remembered
	if json.Unmarshal(b, &r) != nil || r.Gateway != gw.String() || !acceptedST(r.ST) {
		return ssdpAnswer{}, false
	}
	u, pin, err := vetLocation(r.Location, gw)
	if err != nil {
		return ssdpAnswer{}, false
	}
	return ssdpAnswer{ST: r.ST, USN: r.USN, Location: u, Pin: pin}, true
}

// remember writes ans as the answer of the gateway gw into dir (mode
// 0600, replaced at once by a rename), unless it is what dir holds; no dir
// is no error.
func remember(dir string, gw netip.Addr, ans ssdpAnswer) error {
	if dir == "" {
		return nil
	}
	if old, ok := recall(dir, gw); ok && old.Location.String() == ans.Location.String() && old.ST == ans.ST {
		return nil
	}
	b, err := json.Marshal(remembered{Gateway: gw.String(), Location: ans.Location.String(), ST: ans.ST, USN: ans.USN})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, rememberFile+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, rememberFile)); err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return nil
}

// forget removes what dir remembers (a remembered gateway that no longer
// answers there); a missing file is no error.
func forget(dir string) error {
	if dir == "" {
		return nil
	}
	if err := os.Remove(filepath.Join(dir, rememberFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
