package demo

import (
	"math"
	"math/rand/v2"
	"sort"
)

// newRand returns a PCG source for one stream of a seed. Each person draws
// from their own stream, so what one person gets never depends on how many
// numbers another drew.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// chance reports true with probability p.
func chance(r *rand.Rand, p float64) bool { return r.Float64() < p }

// between returns an integer in [lo, hi].
func between(r *rand.Rand, lo, hi int) int { return lo + r.IntN(hi-lo+1) }

// gamma draws from Gamma(shape, scale) by Marsaglia and Tsang's method.
func gamma(r *rand.Rand, shape, scale float64) float64 {
	if shape < 1 {
		// Boost: Gamma(a) = Gamma(a+1) · U^(1/a).
		return gamma(r, shape+1, scale) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v * scale
		}
	}
}

// beta draws from Beta(a, b).
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a, 1)
	return x / (x + gamma(r, b, 1))
}

// poisson draws a Poisson count with mean m (small means only).
func poisson(r *rand.Rand, m float64) int {
	l, k, p := math.Exp(-m), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// weighted picks items with probability proportional to their weights.
type weighted[T any] struct {
	items []T
	cum   []float64
}

func newWeighted[T any](items []T, weights []float64) weighted[T] {
	w := weighted[T]{items: items, cum: make([]float64, len(items))}
	sum := 0.0
	for i, x := range weights {
		sum += x
		w.cum[i] = sum
	}
	return w
}

// pick returns one item.
func (w weighted[T]) pick(r *rand.Rand) T {
	x := r.Float64() * w.cum[len(w.cum)-1]
	return w.items[sort.SearchFloat64s(w.cum, x)]
}

// choice is a weighted value for building small tables inline.
type choice[T any] struct {
	v T
	w float64
}

func table[T any](cs ...choice[T]) weighted[T] {
	items := make([]T, len(cs))
	ws := make([]float64, len(cs))
	for i, c := range cs {
		items[i], ws[i] = c.v, c.w
	}
	return newWeighted(items, ws)
}
