// TestMain checks that no test of package natx leaks a goroutine.

package natx

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
