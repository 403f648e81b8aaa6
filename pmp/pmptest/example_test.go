// Runnable example of the fake gateway, driven with go-nat-pmp directly.

package pmptest_test

import (
	"fmt"
	"time"

	natpmp "github.com/jackpal/go-nat-pmp"
	"github.com/nodeconn/natx/pmp/pmptest"
)

func ExampleStart() {
	// In a test, prefer pmptest.NewServer(t, opts), which stops the server
	// when the test ends.
	s, err := pmptest.Start(pmptest.Options{Faults: pmptest.Faults{ExternalPort: 5555}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	// Any NAT-PMP client works: the server is at port 5351 of its own
	// loopback address.
	c := natpmp.NewClientWithTimeout(s.Addr().AsSlice(), time.Second)
	res, err := c.AddPortMapping("udp", 4000, 4000, 60)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("assigned", res.MappedExternalPort, "for", res.PortMappingLifetimeInSeconds, "s")
	for _, m := range s.Mappings() {
		fmt.Println(m.Protocol, m.Transport, m.External)
	}
	fmt.Printf("%+v\n", s.Requests())
	// Output:
	// assigned 5555 for 60 s
	// natpmp udp 203.0.113.1:5555
	// {PCPAnnounce:0 PCPMap:0 PCPOther:0 NATPMPAddress:0 NATPMPMap:1 NATPMPOther:0 Malformed:0 Dropped:0}
}
