// TestMain checks that no test of package relay leaks a goroutine.

package relay

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
