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

// bgSample is the data arranged for the many evaluations of the BG/NBD
// likelihood during a fit, so that one evaluation costs little more than
// an exp and a log1p per customer with repeat purchases:
//   - terms that depend on x alone are summed once per distinct x,
//     weighted by the number of customers with that x;
//   - customers without repeat purchases depend on their T alone, so they
//     are counted per distinct T;
//   - times (T and t_x) take few distinct values when they come from
//     whole days, so ln(α+t) and 1/(α+t) are computed once per value.
type bgSample struct {
	times  []float64 // distinct values of T and t_x
	xCount []float64 // customers per x
	zeroT  []float64 // customers with x = 0, per index into times
	rep    []bgRow   // customers with x > 0
}

type bgRow struct{ x, t, tx int32 } // t, tx index times

func newBGSample(data []RFT) *bgSample {
	s := &bgSample{}
	index := map[float64]int32{}
	at := func(v float64) int32 {
		i, ok := index[v]
		if !ok {
			i = int32(len(s.times))
			index[v] = i
			s.times = append(s.times, v)
		}
		return i
	}
	var zero []int32
	for i := range data {
		d := &data[i]
		x := int(d.X)
		if x >= len(s.xCount) {
			s.xCount = append(s.xCount, make([]float64, x+1-len(s.xCount))...)
		}
		s.xCount[x]++
		if x == 0 {
			zero = append(zero, at(d.T))
		} else {
			s.rep = append(s.rep, bgRow{int32(x), at(d.T), at(d.Tx)})
		}
	}
	s.zeroT = make([]float64, len(s.times))
	for _, t := range zero {
		s.zeroT[t]++
	}
	return s
}

// BGNBDLogLikelihood returns the summed log-likelihood of data under p and
// its gradient in (r, α, a, b), computed in log space.
func BGNBDLogLikelihood(p BGNBD, data []RFT) (float64, [4]float64) {
	return newBGSample(data).logLikelihood(p)
}

// logLikelihood is BGNBDLogLikelihood over the arranged sample. Per
// customer, the likelihood is
//
//	B(a,b+x)/B(a,b) · Γ(r+x)α^r/Γ(r) · [ (α+T)^−(r+x) + δ(x>0)·a/(b+x−1)·(α+t_x)^−(r+x) ]
//
// whose bracket, log(e^a3 + e^a4), is the only part that needs the
// customer's own times.
func (s *bgSample) logLikelihood(p BGNBD) (float64, [4]float64) {
	r, al, a, b := p.R, p.Alpha, p.A, p.B
	lnAl, lnA := math.Log(al), math.Log(a)
	psiR, psiAB, psiB := mathext.Digamma(r), mathext.Digamma(a+b), mathext.Digamma(b)
	lgR, lgAB, lgB := lgamma(r), lgamma(a+b), lgamma(b)
	var ll, gr, gal, ga, gb float64
	// What depends on x alone: Γ(r+x)/Γ(r)·α^r and the Beta ratio.
	c4 := make([]float64, len(s.xCount))     // ln a − ln(b+x−1)
	invBX1 := make([]float64, len(s.xCount)) // 1/(b+x−1)
	for x, n := range s.xCount {
		if n == 0 {
			continue
		}
		fx := float64(x)
		psiABX := mathext.Digamma(a + b + fx)
		ll += n * (lgamma(r+fx) - lgR + r*lnAl + lgAB + lgamma(b+fx) - lgB - lgamma(a+b+fx))
		gr += n * (mathext.Digamma(r+fx) - psiR + lnAl)
		gal += n * r / al
		ga += n * (psiAB - psiABX)
		gb += n * (psiAB + mathext.Digamma(b+fx) - psiB - psiABX)
		if x > 0 {
			c4[x] = lnA - math.Log(b+fx-1)
			invBX1[x] = 1 / (b + fx - 1)
		}
	}
	lnT := make([]float64, len(s.times))  // ln(α+t)
	invT := make([]float64, len(s.times)) // 1/(α+t)
	for i, t := range s.times {
		lnT[i], invT[i] = math.Log(al+t), 1/(al+t)
	}
	// No repeat purchase: the bracket is (α+T)^−r.
	for i, n := range s.zeroT {
		if n > 0 {
			ll -= n * r * lnT[i]
			gr -= n * lnT[i]
			gal -= n * r * invT[i]
		}
	}
	// Repeat buyers, in parallel over slices of the sample.
	type part struct{ ll, gr, gal, w4, gb float64 }
	workers := runtime.GOMAXPROCS(0)
	if len(s.rep) < 20000 {
		workers = 1
	}
	parts := make([]part, workers)
	per := (len(s.rep) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		rows := s.rep[min(w*per, len(s.rep)):min((w+1)*per, len(s.rep))]
		wg.Add(1)
		go func(pt *part) {
			defer wg.Done()
			var ll, gr, gal, sw4, gb float64
			for _, d := range rows {
				rx := r + float64(d.x)
				la, lb := lnT[d.t], lnT[d.tx]
				a3 := -rx * la
				a4 := c4[d.x] - rx*lb
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
				ll += lse
				gr -= w3*la + w4*lb
				gal -= rx * (w3*invT[d.t] + w4*invT[d.tx])
				sw4 += w4
				gb -= w4 * invBX1[d.x]
			}
			*pt = part{ll, gr, gal, sw4, gb}
		}(&parts[w])
	}
	wg.Wait()
	for _, pt := range parts {
		ll += pt.ll
		gr += pt.gr
		gal += pt.gal
		ga += pt.w4 / a
		gb += pt.gb
	}
	return ll, [4]float64{gr, gal, ga, gb}
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
	sample := newBGSample(data)
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
			lastLL, lastG = sample.logLikelihood(p)
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
	ll, _ := sample.logLikelihood(p)
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

// minimize runs BFGS on an objective that is a mean over customers (the
// negative log-likelihood divided by their number) in log parameters. It
// stops when the gradient's norm is below 1e-6: at a million customers a
// tighter bound is below the rounding of the sums, and the line search
// would spend dozens of evaluations failing to improve; the parameters are
// then already stable to about five significant digits.
func minimize(prob optimize.Problem, x0 []float64) (*optimize.Result, error) {
	settings := &optimize.Settings{
		GradientThreshold: 1e-6,
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
	s := newGGSample(data)
	ll, grad := s.logLikelihood(g)
	return ll, grad, len(s.x)
}

// ggSample is the Gamma-Gamma data arranged for the evaluations of a fit:
// the sums that do not depend on the parameters are taken once, and terms
// of x alone once per distinct x, leaving one log and one division per
// customer and evaluation.
type ggSample struct {
	x, m   []float64 // repeat transactions and their mean value
	xCount []float64 // customers per x (whole numbers of repeats)
	sumLnM float64   // Σ ln m
	sumXLn float64   // Σ x·(ln m + ln x)
}

func newGGSample(data []RFT) *ggSample {
	s := &ggSample{}
	for _, d := range data {
		if d.X <= 0 || d.Monetary <= 0 {
			continue
		}
		s.x, s.m = append(s.x, d.X), append(s.m, d.Monetary)
		x := int(d.X)
		if x >= len(s.xCount) {
			s.xCount = append(s.xCount, make([]float64, x+1-len(s.xCount))...)
		}
		s.xCount[x]++
		s.sumLnM += math.Log(d.Monetary)
		s.sumXLn += d.X * (math.Log(d.Monetary) + math.Log(d.X))
	}
	return s
}

// logLikelihood sums, per customer,
//
//	lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln v + (px−1) ln m + px ln x − (px+q) ln(v+xm).
func (s *ggSample) logLikelihood(g GammaGamma) (float64, [3]float64) {
	p, q, v := g.P, g.Q, g.V
	n := float64(len(s.x))
	lgq, psiQ, lnV := lgamma(q), mathext.Digamma(q), math.Log(v)
	ll := n*(q*lnV-lgq) + p*s.sumXLn - s.sumLnM
	grad := [3]float64{s.sumXLn, n * (lnV - psiQ), n * q / v}
	for x, c := range s.xCount {
		if c == 0 {
			continue
		}
		px := p * float64(x)
		psiPXQ := mathext.Digamma(px + q)
		ll += c * (lgamma(px+q) - lgamma(px))
		grad[0] += c * float64(x) * (psiPXQ - mathext.Digamma(px))
		grad[1] += c * psiPXQ
	}
	var sumL, sumXL, sumW float64 // Σ ln(v+xm), Σ x ln(v+xm), Σ (px+q)/(v+xm)
	for i, x := range s.x {
		vxm := v + x*s.m[i]
		l := math.Log(vxm)
		sumL += l
		sumXL += x * l
		sumW += (p*x + q) / vxm
	}
	ll -= p*sumXL + q*sumL
	grad[0] -= sumXL
	grad[1] -= sumL
	grad[2] -= sumW
	return ll, grad
}

// FitGammaGamma estimates the spend model by maximum likelihood on the
// customers with repeat purchases.
func FitGammaGamma(data []RFT) (GammaGamma, Fit, error) {
	s := newGGSample(data)
	n := len(s.x)
	if n < 10 {
		return GammaGamma{}, Fit{}, fmt.Errorf("%w: fewer than 10 customers bought twice", ErrTooFewCustomers)
	}
	var mean float64
	for _, m := range s.m {
		mean += m
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
			ll, _ := s.logLikelihood(g)
			return -ll / fn
		},
		Grad: func(grad, th []float64) {
			g := toG(th)
			_, gr := s.logLikelihood(g)
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
	ll, _ := s.logLikelihood(g)
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
	v, _ := clv(p, g, d, months, discount, periodsPerMonth)
	return v
}

// clv returns the CLV and the expected purchases over the months, which
// it computes on the way.
func clv(p BGNBD, g GammaGamma, d RFT, months int, discount, periodsPerMonth float64) (value, purchases float64) {
	aov := g.ExpectedAverage(d.X, d.Monetary)
	for k := 1; k <= months; k++ {
		cum := p.ExpectedPurchases(d, float64(k)*periodsPerMonth)
		value += (cum - purchases) * aov / math.Pow(1+discount, float64(k))
		purchases = cum
	}
	return value, purchases
}
