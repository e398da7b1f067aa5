package cli

import (
	"context"
	"time"

	"github.com/enishi-crm/enishi/internal/store"
)

func cmdDemo(ctx context.Context, env *Env, args []string) error {
	return usagef("demo: not yet available")
}

func generateDemo(ctx context.Context, env *Env, st *store.DB, customers int, seed int64, now time.Time) error {
	return nil
}
