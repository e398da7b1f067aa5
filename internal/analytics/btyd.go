package analytics

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// RFT is one customer's purchase history summarised the way the "buy till
// you die" models read it, in model periods (weeks or days): X repeat
// transactions (purchase days after the first, same-day orders merged), Tx
// the time of the last one and T the time from the first purchase to the
// end of the calibration period. Monetary is the mean value of the repeat
// transactions (0 without any).
type RFT struct {
	X        float64
	Tx       float64
	T        float64
	Monetary float64
}

// BGNBD holds the parameters of the BG/NBD model (Fader, Hardie & Lee 2005,
// "Counting your customers the easy way"): purchase rates are Gamma(r, α)
// across customers; after each purchase a customer drops out with a
// probability that is Beta(a, b) across customers.
type BGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
}

// GammaGamma holds the parameters of the Gamma-Gamma spend model (Fader,
// Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).
type GammaGamma struct {
	P float64 `json:"p"`
	Q float64 `json:"q"`
	V float64 `json:"v"`
}

// Fit is the outcome of a maximum-likelihood fit.
type Fit struct {
	LogLikelihood float64 `json:"log_likelihood"`
	Customers     int     `json:"customers"`
	Iterations    int     `json:"iterations"`
}

// ErrTooFewCustomers means there is not enough history to fit a model.
var ErrTooFewCustomers = errors.New("too few customers with purchase history to fit the model")

// xTerms caches what depends on the number of repeat purchases only.
type bgTerms struct {
	lg1, d1  float64 // lgamma(r+x) − lgamma(r), its derivative in r
	lg2      float64 // ln B(a, b+x) − ln B(a, b)
	da2, db2 float64 // its derivatives in a and b
	lnBX1    float64 // ln(b+x−1), x > 0
}

// BGNBDLogLikelihood returns the summed log-likelihood of data under p and
// its gradient in (r, α, a, b). It is computed in log space, with the terms
// that depend on x alone computed once per distinct x.
func BGNBDLogLikelihood(p BGNBD, data []RFT) (float64, [4]float64) {
	maxX := 0
	for i := range data {
		maxX = max(maxX, int(data[i].X))
	}
	terms := make([]bgTerms, maxX+1)
	used := make([]bool, maxX+1)
	for i := range data {
		used[int(data[i].X)] = true
	}
	r, al, a, b := p.R, p.Alpha, p.A, p.B
	psiR, psiAB, psiB := mathext.Digamma(r), mathext.Digamma(a+b), mathext.Digamma(b)
	lgR, lgAB, lgB := lgamma(r), lgamma(a+b), lgamma(b)
	for x, ok := range used {
		if !ok {
			continue
		}
		fx := float64(x)
		t := &terms[x]
		t.lg1 = lgamma(r+fx) - lgR
		t.d1 = mathext.Digamma(r+fx) - psiR
		t.lg2 = lgAB + lgamma(b+fx) - lgB - lgamma(a+b+fx)
		psiABX := mathext.Digamma(a + b + fx)
		t.da2 = psiAB - psiABX
		t.db2 = psiAB + mathext.Digamma(b+fx) - psiB - psiABX
		if x > 0 {
			t.lnBX1 = math.Log(b + fx - 1)
		}
	}
	lnAl, lnA := math.Log(al), math.Log(a)
	workers := runtime.GOMAXPROCS(0)
	if len(data) < 20000 {
		workers = 1
	}
	type part struct {
		ll float64
		g  [4]float64
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	per := (len(data) + workers - 1) / workers
	for w := 0; w < workers; w++ {
		lo, hi := w*per, min((w+1)*per, len(data))
		wg.Add(1)
		go func(pt *part, rows []RFT) {
			defer wg.Done()
			var ll, gr, gal, ga, gb float64
			for i := range rows {
				d := &rows[i]
				t := &terms[int(d.X)]
				rx := r + d.X
				lnAT := math.Log(al + d.T)
				a3 := -rx * lnAT
				base := t.lg1 + r*lnAl + t.lg2
				gr += t.d1 + lnAl
				gal += r / al
				ga += t.da2
				gb += t.db2
				if d.X == 0 {
					ll += base + a3
					gr -= lnAT
					gal -= rx / (al + d.T)
					continue
				}
				lnATx := math.Log(al + d.Tx)
				a4 := lnA - t.lnBX1 - rx*lnATx
				// log(e^a3 + e^a4) and the weights of the two terms.
				var lse, w4 float64
				if a3 > a4 {
					e := math.Exp(a4 - a3)
					lse, w4 = a3+math.Log1p(e), e/(1+e)
				} else {
					e := math.Exp(a3 - a4)
					lse, w4 = a4+math.Log1p(e), 1/(1+e)
				}
				w3 := 1 - w4
				ll += base + lse
				gr -= w3*lnAT + w4*lnATx
				gal -= rx * (w3/(al+d.T) + w4/(al+d.Tx))
				ga += w4 / a
				gb -= w4 / (b + d.X - 1)
			}
			*pt = part{ll, [4]float64{gr, gal, ga, gb}}
		}(&parts[w], data[lo:hi])
	}
	wg.Wait()
	var ll float64
	var g [4]float64
	for _, pt := range parts {
		ll += pt.ll
		for i := range g {
			g[i] += pt.g[i]
		}
	}
	return ll, g
}

func lgamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// FitBGNBD estimates the BG/NBD parameters by maximum likelihood. The
// search runs over the logarithms of the parameters (so they stay
// positive) with BFGS on the analytic gradient.
func FitBGNBD(data []RFT) (BGNBD, Fit, error) {
	if len(data) < 10 {
		return BGNBD{}, Fit{}, ErrTooFewCustomers
	}
	repeaters := 0
	var meanT float64
	for _, d := range data {
		if d.X > 0 {
			repeaters++
		}
		meanT += d.T
	}
	if repeaters == 0 {
		return BGNBD{}, Fit{}, fmt.Errorf("%w: nobody has bought twice", ErrTooFewCustomers)
	}
	meanT /= float64(len(data))
	n := float64(len(data))
	toP := func(th []float64) BGNBD {
		return BGNBD{R: math.Exp(th[0]), Alpha: math.Exp(th[1]), A: math.Exp(th[2]), B: math.Exp(th[3])}
	}
	// Func and Grad are asked at the same points: compute both once.
	var lastTh [4]float64
	var lastLL float64
	var lastG [4]float64
	have := false
	eval := func(th []float64) (float64, [4]float64, bool) {
		p := toP(th)
		if !p.valid() {
			return 0, [4]float64{}, false
		}
		if !have || [4]float64(th) != lastTh {
			lastLL, lastG = BGNBDLogLikelihood(p, data)
			lastTh, have = [4]float64(th), true
		}
		return lastLL, lastG, true
	}
	prob := optimize.Problem{
		Func: func(th []float64) float64 {
			ll, _, ok := eval(th)
			if !ok {
				return math.Inf(1)
			}
			return -ll / n
		},
		Grad: func(grad, th []float64) {
			p := toP(th)
			_, g, _ := eval(th)
			vals := [4]float64{p.R, p.Alpha, p.A, p.B}
			for i := range grad {
				grad[i] = -g[i] * vals[i] / n
			}
		},
	}
	x0 := []float64{0, math.Log(math.Max(meanT/4, 1e-3)), 0, 0}
	res, err := minimize(prob, x0)
	if err != nil {
		return BGNBD{}, Fit{}, fmt.Errorf("fit BG/NBD: %w", err)
	}
	p := toP(res.X)
	ll, _ := BGNBDLogLikelihood(p, data)
	return p, Fit{LogLikelihood: ll, Customers: len(data), Iterations: res.Stats.MajorIterations}, nil
}

func (p BGNBD) valid() bool {
	for _, v := range []float64{p.R, p.Alpha, p.A, p.B} {
		if !(v > 1e-10 && v < 1e10) {
			return false
		}
	}
	return true
}

func minimize(prob optimize.Problem, x0 []float64) (*optimize.Result, error) {
	settings := &optimize.Settings{
		GradientThreshold: 1e-9,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-11, Relative: 1e-11, Iterations: 10},
		MajorIterations:   300,
	}
	res, err := optimize.Minimize(prob, x0, settings, &optimize.BFGS{})
	if err != nil && res == nil {
		return nil, err
	}
	if res == nil || math.IsNaN(res.F) || math.IsInf(res.F, 0) {
		return nil, errors.New("the likelihood could not be maximised")
	}
	// A line search that cannot improve further at the optimum is not a
	// failure: the gradient there is already near zero.
	return res, nil
}

// PAlive is the probability that a customer with history d is still
// active at the end of calibration (FHL 2005, eq. 11 of the note).
func (p BGNBD) PAlive(d RFT) float64 {
	if d.X == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(p.lnOdds(d)))
}

// lnOdds is ln[a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)].
func (p BGNBD) lnOdds(d RFT) float64 {
	return math.Log(p.A) - math.Log(p.B+d.X-1) + (p.R+d.X)*(math.Log(p.Alpha+d.T)-math.Log(p.Alpha+d.Tx))
}

// ExpectedPurchases is the expected number of transactions in the next t
// periods of a customer with history d (FHL 2005, eq. 10), with the
// Gaussian hypergeometric function 2F1.
func (p BGNBD) ExpectedPurchases(d RFT, t float64) float64 {
	if t <= 0 {
		return 0
	}
	r, al, a, b, x := p.R, p.Alpha, p.A, p.B, d.X
	z := t / (al + d.T + t)
	lnRatio := (r + x) * (math.Log(al+d.T) - math.Log(al+d.T+t))
	h := mathext.Hypergeo(r+x, b+x, a+b+x-1, z)
	num := (a + b + x - 1) / (a - 1) * (1 - math.Exp(lnRatio)*h)
	den := 1.0
	if x > 0 {
		den += math.Exp(p.lnOdds(d))
	}
	return num / den
}

// PopulationExpected is E[X(t)] for a randomly chosen new customer.
func (p BGNBD) PopulationExpected(t float64) float64 {
	r, al, a, b := p.R, p.Alpha, p.A, p.B
	z := t / (al + t)
	h := mathext.Hypergeo(r, b, a+b-1, z)
	return (a + b - 1) / (a - 1) * (1 - math.Pow(al/(al+t), r)*h)
}

// GammaGammaLogLikelihood is the summed log-likelihood of the mean repeat
// spend of customers with at least one repeat purchase, and its gradient in
// (p, q, v).
func GammaGammaLogLikelihood(g GammaGamma, data []RFT) (float64, [3]float64, int) {
	var ll float64
	var grad [3]float64
	n := 0
	lgq, psiQ, lnV := lgamma(g.Q), mathext.Digamma(g.Q), math.Log(g.V)
	for _, d := range data {
		if d.X <= 0 || d.Monetary <= 0 {
			continue
		}
		n++
		x, m := d.X, d.Monetary
		px := g.P * x
		lnVXM := math.Log(g.V + x*m)
		psiPXQ, psiPX := mathext.Digamma(px+g.Q), mathext.Digamma(px)
		ll += lgamma(px+g.Q) - lgamma(px) - lgq + g.Q*lnV + (px-1)*math.Log(m) + px*math.Log(x) - (px+g.Q)*lnVXM
		grad[0] += x * (psiPXQ - psiPX + math.Log(m) + math.Log(x) - lnVXM)
		grad[1] += psiPXQ - psiQ + lnV - lnVXM
		grad[2] += g.Q/g.V - (px+g.Q)/(g.V+x*m)
	}
	return ll, grad, n
}

// FitGammaGamma estimates the spend model by maximum likelihood on the
// customers with repeat purchases.
func FitGammaGamma(data []RFT) (GammaGamma, Fit, error) {
	var n int
	var mean float64
	for _, d := range data {
		if d.X > 0 && d.Monetary > 0 {
			n++
			mean += d.Monetary
		}
	}
	if n < 10 {
		return GammaGamma{}, Fit{}, fmt.Errorf("%w: fewer than 10 customers bought twice", ErrTooFewCustomers)
	}
	mean /= float64(n)
	toG := func(th []float64) GammaGamma {
		return GammaGamma{P: math.Exp(th[0]), Q: math.Exp(th[1]), V: math.Exp(th[2])}
	}
	fn := float64(n)
	prob := optimize.Problem{
		Func: func(th []float64) float64 {
			g := toG(th)
			if !(g.P > 1e-10 && g.Q > 1e-10 && g.V > 1e-10 && g.P < 1e10 && g.Q < 1e10 && g.V < 1e12) {
				return math.Inf(1)
			}
			ll, _, _ := GammaGammaLogLikelihood(g, data)
			return -ll / fn
		},
		Grad: func(grad, th []float64) {
			g := toG(th)
			_, gr, _ := GammaGammaLogLikelihood(g, data)
			vals := [3]float64{g.P, g.Q, g.V}
			for i := range grad {
				grad[i] = -gr[i] * vals[i] / fn
			}
		},
	}
	// Start at p = 1, q = 2, v = mean: the implied population mean p·v/(q−1)
	// is then the observed mean.
	res, err := minimize(prob, []float64{0, math.Log(2), math.Log(mean)})
	if err != nil {
		return GammaGamma{}, Fit{}, fmt.Errorf("fit Gamma-Gamma: %w", err)
	}
	g := toG(res.X)
	ll, _, _ := GammaGammaLogLikelihood(g, data)
	return g, Fit{LogLikelihood: ll, Customers: n, Iterations: res.Stats.MajorIterations}, nil
}

// ExpectedAverage is the expected mean transaction value of a customer
// with x repeat transactions of mean m (the population mean when x = 0).
// The model needs q > 1; otherwise the observed mean is returned.
func (g GammaGamma) ExpectedAverage(x, m float64) float64 {
	if g.Q <= 1 {
		return m
	}
	if x <= 0 || m <= 0 {
		return g.P * g.V / (g.Q - 1)
	}
	return g.P * (g.V + x*m) / (g.P*x + g.Q - 1)
}

// CLV is the predicted value of a customer over months months: the
// expected purchases of each month times the expected average order
// value, discounted monthly at rate discount. periodsPerMonth converts
// months to model periods (30.4375/7 for weeks).
func CLV(p BGNBD, g GammaGamma, d RFT, months int, discount, periodsPerMonth float64) float64 {
	aov := g.ExpectedAverage(d.X, d.Monetary)
	var v, prev float64
	for k := 1; k <= months; k++ {
		cum := p.ExpectedPurchases(d, float64(k)*periodsPerMonth)
		v += (cum - prev) * aov / math.Pow(1+discount, float64(k))
		prev = cum
	}
	return v
}
