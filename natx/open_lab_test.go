package natx_test

// Lab tests of Open (root only; docs/lab.md).

import "github.com/nodeconn/natx/internal/netlab"

// openLabHelpers are the helper processes of the Open lab tests, served by
// TestNetlabHelper in lab_test.go.
var openLabHelpers = map[string]netlab.HelperFunc{}
