package failover

import (
	"testing"

	"github.com/poolpilot/poolpilot/e2e/internal/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
