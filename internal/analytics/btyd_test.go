package analytics

import (
	"bufio"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cdnow reads the CDNOW 1/10 sample the way the published results use it:
// same-day purchases merged, calibration to 1997-09-30, time in weeks,
// monetary the mean of the repeat transactions in calibration.
func cdnow(t *testing.T) []RFT {
	t.Helper()
	f, err := os.Open("../../../../shared/data/cdnow/CDNOW_sample.txt")
	if err != nil {
		f, err = os.Open("/work/shared/data/cdnow/CDNOW_sample.txt")
	}
	if err != nil {
		t.Skipf("CDNOW sample not available: %v", err)
	}
	defer f.Close()
	calEnd := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	type hist struct {
		days  map[int]float64
		first int
	}
	byCust := map[string]*hist{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		d, err := time.Parse("20060102", fs[2])
		if err != nil {
			t.Fatal(err)
		}
		if d.After(calEnd) {
			continue
		}
		amt, _ := strconv.ParseFloat(fs[4], 64)
		h := byCust[fs[0]]
		if h == nil {
			h = &hist{days: map[int]float64{}, first: math.MaxInt}
			byCust[fs[0]] = h
			order = append(order, fs[0])
		}
		day := int(d.Sub(calEnd).Hours() / 24)
		h.days[day] += amt
		h.first = min(h.first, day)
	}
	var out []RFT
	for _, id := range order {
		h := byCust[id]
		last := h.first
		var repeatSum float64
		for d, v := range h.days {
			last = max(last, d)
			if d != h.first {
				repeatSum += v
			}
		}
		x := float64(len(h.days) - 1)
		r := RFT{X: x, Tx: float64(last-h.first) / 7, T: float64(-h.first) / 7}
		if x > 0 {
			r.Monetary = repeatSum / x
		}
		out = append(out, r)
	}
	return out
}

func TestBGNBDReproducesCDNOWPublishedFit(t *testing.T) {
	data := cdnow(t)
	if len(data) != 2357 {
		t.Fatalf("customers = %d, want 2357", len(data))
	}
	p, fit, err := FitBGNBD(data)
	if err != nil {
		t.Fatal(err)
	}
	want := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"r", p.R, want.R}, {"alpha", p.Alpha, want.Alpha}, {"a", p.A, want.A}, {"b", p.B, want.B}} {
		if math.Abs(c.got-c.want) > 0.0005+1e-9 {
			t.Errorf("%s = %.4f, want %.3f", c.name, c.got, c.want)
		}
	}
	if math.Abs(fit.LogLikelihood-(-9582.4)) > 0.05 {
		t.Errorf("log-likelihood = %.2f, want -9582.4", fit.LogLikelihood)
	}
	t.Logf("r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.3f in %d iterations", p.R, p.Alpha, p.A, p.B, fit.LogLikelihood, fit.Iterations)
}

func TestBGNBDConditionalExpectationMatchesPaper(t *testing.T) {
	p := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	// FHL 2005 §5: a customer with x = 2, t_x = 30.43, T = 38.86 is expected
	// to make 1.226 purchases in the next 39 weeks.
	got := p.ExpectedPurchases(RFT{X: 2, Tx: 30.43, T: 38.86}, 39)
	if math.Abs(got-1.226) > 0.001 {
		t.Errorf("E[Y(39)] = %.4f, want 1.226", got)
	}
	// The conditional expectation of a customer with no repeat purchases and
	// T = 0 is the population expectation.
	if a, b := p.ExpectedPurchases(RFT{T: 0}, 52), p.PopulationExpected(52); math.Abs(a-b) > 1e-9 {
		t.Errorf("E[Y|x=0,T=0] = %v, population E = %v", a, b)
	}
	if pa := p.PAlive(RFT{X: 0, T: 30}); pa != 1 {
		t.Errorf("P(alive) with no repeat purchase = %v, want 1", pa)
	}
	// Long silence after many purchases makes death likely.
	if pa := p.PAlive(RFT{X: 10, Tx: 5, T: 38}); pa > 0.1 {
		t.Errorf("P(alive) after 33 silent weeks of a frequent buyer = %v", pa)
	}
}

func TestBGNBDGradientMatchesFiniteDifferences(t *testing.T) {
	data := []RFT{{X: 0, T: 30}, {X: 3, Tx: 20, T: 35}, {X: 1, Tx: 2, T: 10}, {X: 7, Tx: 33, T: 34}}
	p := BGNBD{R: 0.5, Alpha: 3, A: 0.8, B: 2.5}
	_, g := BGNBDLogLikelihood(p, data)
	vals := []*float64{&p.R, &p.Alpha, &p.A, &p.B}
	for i, v := range vals {
		h := 1e-6 * *v
		*v += h
		up, _ := BGNBDLogLikelihood(p, data)
		*v -= 2 * h
		dn, _ := BGNBDLogLikelihood(p, data)
		*v += h
		num := (up - dn) / (2 * h)
		if math.Abs(num-g[i]) > 1e-5*math.Max(1, math.Abs(num)) {
			t.Errorf("gradient[%d] = %v, finite difference %v", i, g[i], num)
		}
	}
}

func TestGammaGammaReproducesCDNOWPublishedFit(t *testing.T) {
	data := cdnow(t)
	g, fit, err := FitGammaGamma(data)
	if err != nil {
		t.Fatal(err)
	}
	// FHL 2005 "RFM and CLV": p = 6.25, q = 3.74, v = 15.44 on the 946
	// customers with repeat purchases in calibration.
	if fit.Customers != 946 {
		t.Errorf("customers = %d, want 946", fit.Customers)
	}
	if math.Abs(g.P-6.25) > 0.01 || math.Abs(g.Q-3.74) > 0.01 || math.Abs(g.V-15.44) > 0.02 {
		t.Errorf("p, q, v = %.3f, %.3f, %.3f; want 6.25, 3.74, 15.44", g.P, g.Q, g.V)
	}
	// The expected average of a customer is between their own mean and the
	// population mean.
	pop := g.ExpectedAverage(0, 0)
	e := g.ExpectedAverage(2, 100)
	if !(e > pop && e < 100) {
		t.Errorf("E[M|x=2,m=100] = %v, population mean %v", e, pop)
	}
}

func TestCLVDiscountsAndGrowsWithHorizon(t *testing.T) {
	p := BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	g := GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
	d := RFT{X: 2, Tx: 30.43, T: 38.86, Monetary: 40}
	perMonth := 30.4375 / 7
	c12 := CLV(p, g, d, 12, 0, perMonth)
	c24 := CLV(p, g, d, 24, 0, perMonth)
	c12d := CLV(p, g, d, 12, 0.01, perMonth)
	want := p.ExpectedPurchases(d, 12*perMonth) * g.ExpectedAverage(2, 40)
	if math.Abs(c12-want) > 1e-9*want {
		t.Errorf("undiscounted CLV = %v, want E[Y]·E[M] = %v", c12, want)
	}
	if !(c24 > c12 && c12d < c12) {
		t.Errorf("CLV 12m %v, 24m %v, 12m discounted %v", c12, c24, c12d)
	}
}

// simulated draws n customers from p with first purchases spread uniformly
// over span periods before the end of calibration; with days, times are
// whole days in weeks and same-day purchases merged, as the store does.
func simulated(p BGNBD, n int, span float64, days bool) []RFT {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]RFT, n)
	var buf []float64
	for i := range out {
		T := rng.Float64() * span
		buf = p.SimulateCustomer(rng, T, buf[:0])
		if days {
			first := math.Floor(-T * 7) // the day of the first purchase, end of calibration = day 0
			last, x := first, 0.0
			for _, at := range buf[1:] {
				if d := math.Floor(-T*7 + at*7); d != last {
					last, x = d, x+1
				}
			}
			out[i] = RFT{X: x, Tx: (last - first) / 7, T: -first / 7}
			continue
		}
		out[i] = RFT{X: float64(len(buf) - 1), Tx: buf[len(buf)-1], T: T}
	}
	return out
}

func TestBGNBDFitRecoversSimulatedParameters(t *testing.T) {
	want := BGNBD{R: 0.8, Alpha: 6, A: 0.7, B: 3}
	got, fit, err := FitBGNBD(simulated(want, 20000, 104, false))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]float64{{got.R, want.R}, {got.Alpha, want.Alpha}, {got.A, want.A}, {got.B, want.B}} {
		if math.Abs(c[0]/c[1]-1) > 0.1 {
			t.Errorf("fitted %+v, drawn from %+v", got, want)
			break
		}
	}
	t.Logf("fitted %+v (drawn from %+v) in %d iterations", got, want, fit.Iterations)
}

// TestBGNBDLikelihoodMatchesDirectComputation checks the arranged, parallel
// evaluation against the per-customer formula (FHL 2005, eq. 6) on a sample
// large enough to be split between workers, with times in whole days.
func TestBGNBDLikelihoodMatchesDirectComputation(t *testing.T) {
	data := simulated(BGNBD{R: 0.8, Alpha: 6, A: 0.7, B: 3}, 30000, 104, true)
	p := BGNBD{R: 0.7, Alpha: 5, A: 0.9, B: 2}
	lnBeta := func(x, y float64) float64 { return lgamma(x) + lgamma(y) - lgamma(x+y) }
	var want float64
	for _, d := range data {
		l := lnBeta(p.A, p.B+d.X) - lnBeta(p.A, p.B) + lgamma(p.R+d.X) - lgamma(p.R) + p.R*math.Log(p.Alpha)
		in := math.Pow(p.Alpha+d.T, -(p.R + d.X))
		if d.X > 0 {
			in += p.A / (p.B + d.X - 1) * math.Pow(p.Alpha+d.Tx, -(p.R+d.X))
		}
		want += l + math.Log(in)
	}
	got, g := BGNBDLogLikelihood(p, data)
	if math.Abs(got-want) > 1e-9*math.Abs(want) {
		t.Errorf("log-likelihood = %.6f, direct %.6f", got, want)
	}
	vals := []*float64{&p.R, &p.Alpha, &p.A, &p.B}
	for i, v := range vals {
		h := 1e-6 * *v
		*v += h
		up, _ := BGNBDLogLikelihood(p, data)
		*v -= 2 * h
		dn, _ := BGNBDLogLikelihood(p, data)
		*v += h
		if num := (up - dn) / (2 * h); math.Abs(num-g[i]) > 1e-5*math.Max(1, math.Abs(num)) {
			t.Errorf("gradient[%d] = %v, finite difference %v", i, g[i], num)
		}
	}
}

func TestGammaGammaGradientMatchesFiniteDifferences(t *testing.T) {
	data := []RFT{{X: 1, Monetary: 30}, {X: 3, Monetary: 12.5}, {X: 3, Monetary: 80}, {X: 7, Monetary: 41}, {X: 0, Monetary: 0}}
	g := GammaGamma{P: 5, Q: 3, V: 20}
	_, grad, n := GammaGammaLogLikelihood(g, data)
	if n != 4 {
		t.Fatalf("customers = %d, want 4 (x = 0 left out)", n)
	}
	for i, v := range []*float64{&g.P, &g.Q, &g.V} {
		h := 1e-6 * *v
		*v += h
		up, _, _ := GammaGammaLogLikelihood(g, data)
		*v -= 2 * h
		dn, _, _ := GammaGammaLogLikelihood(g, data)
		*v += h
		if num := (up - dn) / (2 * h); math.Abs(num-grad[i]) > 1e-5*math.Max(1, math.Abs(num)) {
			t.Errorf("gradient[%d] = %v, finite difference %v", i, grad[i], num)
		}
	}
}
