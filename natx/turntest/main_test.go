// TestMain checks that no test of package turntest leaks a goroutine.

package turntest_test

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
