// TestMain checks that no test of package eventq leaks a goroutine.

package eventq

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
