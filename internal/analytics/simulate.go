package analytics

import (
	"math"
	"math/rand/v2"
)

// Simulation draws customers from the models, for checking fits against
// known parameters (tests, and the benchmark's generated shop).

// SimulateCustomer draws one customer's purchase times from BG/NBD: a
// purchase rate λ ~ Gamma(r, α), a dropout probability p ~ Beta(a, b), a
// first purchase at time 0, then purchases at the times of a Poisson
// process of rate λ up to T, after each of which the customer drops out
// with probability p. It appends the times (0 first) to buf.
func (p BGNBD) SimulateCustomer(rng *rand.Rand, T float64, buf []float64) []float64 {
	lambda := GammaDraw(rng, p.R) / p.Alpha
	x := GammaDraw(rng, p.A)
	drop := x / (x + GammaDraw(rng, p.B))
	buf = append(buf, 0)
	for at := rng.ExpFloat64() / lambda; at <= T; at += rng.ExpFloat64() / lambda {
		buf = append(buf, at)
		if rng.Float64() < drop {
			break
		}
	}
	return buf
}

// SimulateSpender draws a customer's spend rate ν ~ Gamma(q, v) for Gamma-
// Gamma; each of their transactions is then ~ Gamma(p, ν) (SpendDraw).
func (g GammaGamma) SimulateSpender(rng *rand.Rand) float64 { return GammaDraw(rng, g.Q) / g.V }

// SpendDraw draws one transaction value of a customer with spend rate nu.
func (g GammaGamma) SpendDraw(rng *rand.Rand, nu float64) float64 { return GammaDraw(rng, g.P) / nu }

// GammaDraw draws from Gamma(k, 1) (Marsaglia & Tsang 2000; for k < 1 by
// the boost Gamma(k+1)·U^(1/k)).
func GammaDraw(rng *rand.Rand, k float64) float64 {
	if k < 1 {
		return GammaDraw(rng, k+1) * math.Pow(rng.Float64(), 1/k)
	}
	d := k - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if u := rng.Float64(); math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
