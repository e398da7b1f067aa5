package sqlite_test

import (
	"testing"

	"github.com/enishi-crm/enishi/internal/store/storetest"
)

func TestStore(t *testing.T) { storetest.Run(t, storetest.SQLite) }
