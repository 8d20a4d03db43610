package e2e

import (
	"testing"

	"github.com/mlw-project/mlw/internal/store/postgres/pgtest"
)

// TestMain also stops the PostgreSQL cluster that pgtest may start.
func TestMain(m *testing.M) { pgtest.Main(Runner(m)) }
