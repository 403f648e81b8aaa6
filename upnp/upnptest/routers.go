// This file holds the recorded answers of real routers (testdata/routers)
// and their loading.

package upnptest

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

//go:embed testdata/routers
var routerFiles embed.FS

// Recording is what a real router was recorded answering, kept verbatim
// under testdata/routers (index.txt says where each came from).
type Recording struct {
	Name   string // file stem, e.g. "huawei-hg531"
	Family string // the router, its software and what is peculiar about it
	Source string // where the recording came from
	// Description is the root device description (NAME.xml), or the SOAP
	// answer for recordings of one; empty if not recorded.
	Description string
	// SSDP is an SSDP answer (NAME.ssdp); empty if not recorded.
	SSDP string
}

// Recordings returns every recording, in index order.
func Recordings() []Recording {
	index, err := routerFiles.ReadFile("testdata/routers/index.txt")
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	var out []Recording
	for _, line := range strings.Split(string(index), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			panic(fmt.Sprintf("upnptest: index.txt: bad line %q", line))
		}
		r := Recording{Name: f[0], Family: f[1], Source: f[2]}
		r.Description = readRecorded(r.Name + ".xml")
		r.SSDP = readRecorded(r.Name + ".ssdp")
		out = append(out, r)
	}
	return out
}

// Recorded returns the recording called name; it panics if there is none
// (a test's typo).
func Recorded(name string) Recording {
	for _, r := range Recordings() {
		if r.Name == name {
			return r
		}
	}
	panic(fmt.Sprintf("upnptest: no recording %q", name))
}

func readRecorded(file string) string {
	b, err := routerFiles.ReadFile("testdata/routers/" + file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		panic(err)
	}
	return string(b)
}

// Options returns Options serving r: its description and SSDP answer
// verbatim (but for the LOCATION, which points to the Server), with SOAP
// control on the WAN connection services the description lists.
func (r Recording) Options() Options {
	return Options{Description: r.Description, SSDPAnswer: r.SSDP}
}
