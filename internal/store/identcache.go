package store

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/enishi-crm/enishi/internal/identity"
)

// identCache remembers, per process, which customer holds an identifier, so
// that an import of repeat buyers does not look the same e-mail up in every
// batch. Only identifiers known to be held are cached: a cached answer can
// only go stale through a merge, unmerge or erasure, and each of those bumps
// identity_generation, which empties the cache.
//
// Keys are 128-bit hashes of the identifier keys under seeds drawn at
// random per process (so nobody can craft a collision ahead of time): a
// map without pointers, which the garbage collector need not scan, and a
// third of the memory of one keyed by strings — it holds up to a million
// entries during a large import.
type identCache struct {
	mu    sync.Mutex
	gen   int64
	seeds [2]maphash.Seed
	m     map[identHash]identity.Match
}

type identHash [2]uint64

// identCacheMax bounds the cache; past it the cache starts over.
const identCacheMax = 1_000_000

func (c *identCache) hash(key string) identHash {
	return identHash{maphash.String(c.seeds[0], key), maphash.String(c.seeds[1], key)}
}

// sync makes the cache agree with generation gen.
func (c *identCache) sync(gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil {
		c.reset(gen)
	}
}

func (c *identCache) reset(gen int64) {
	if c.m == nil {
		c.seeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}
	}
	c.m = map[identHash]identity.Match{}
	c.gen = gen
}

func (c *identCache) get(gen int64, key string) (identity.Match, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil {
		return identity.Match{}, false
	}
	m, ok := c.m[c.hash(key)]
	return m, ok
}

// put records what a committed transaction at generation gen knew.
func (c *identCache) put(gen int64, known map[string]*identity.Match) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.m == nil || len(c.m)+len(known) > identCacheMax {
		c.reset(gen)
	}
	for k, m := range known {
		if m != nil {
			c.m[c.hash(k)] = *m
		}
	}
}

// identityGeneration reads the generation inside tx.
func identityGeneration(ctx context.Context, tx *Tx) (int64, error) {
	var g int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM identity_generation WHERE id = 1`).Scan(&g); err != nil {
		return 0, fmt.Errorf("read identity generation: %w", err)
	}
	return g, nil
}

// bumpIdentityGeneration marks every cached identifier lookup stale.
func bumpIdentityGeneration(ctx context.Context, tx *Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE identity_generation SET value = value + 1 WHERE id = 1`)
	return err
}
