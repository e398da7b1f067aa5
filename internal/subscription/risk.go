package subscription

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
)

// The cancellation-risk model answers, for a live subscriber, "how likely
// is this contract to be cancelled before its next delivery?". It is a
// logistic regression fitted on the shop's own history: every delivery a
// contract received is a decision point, whose outcome is whether the
// contract was cancelled before the next one (contracts still waiting for
// their next delivery are not outcomes yet — they are the ones scored).
// Features are measured over the decision interval, the way they are known
// when scoring today. Each score comes with its reasons: the features that
// push this subscriber's risk above the average subscriber's, by their
// contribution to the log-odds.

// Observation is what is known about a contract at a decision point.
type Observation struct {
	Deliveries  int   // deliveries received so far
	Skips       int   // skips so far
	Paused      bool  // paused at least once
	Inquiries   int   // inquiries in the 90 days before
	OpenInquiry bool  // an inquiry still open or pending
	Complaints  int   // of those inquiries, about cancelling or dissatisfaction
	Events      int   // behaviour events in the 30 days before (site, app, LINE)
	Price       int64 // price per delivery
}

// Windows of the observation's counts.
const (
	InquiryWindowDays = 90
	EventWindowDays   = 30
)

// feature is one input of the model with how it reads an observation and
// how a reason is worded.
type feature struct {
	name  string
	value func(o Observation) float64
	// label words the feature for a subscriber as a reason (Japanese, as
	// shown to staff).
	label func(o Observation) string
}

var features = []feature{
	{"early", func(o Observation) float64 { return b2f(o.Deliveries <= 2) },
		func(o Observation) string {
			return fmt.Sprintf("継続初期（%d回目のお届けまで）", o.Deliveries)
		}},
	{"tenure", func(o Observation) float64 { return math.Log1p(float64(o.Deliveries)) },
		func(o Observation) string { return fmt.Sprintf("継続回数が少ない（%d回）", o.Deliveries) }},
	{"skips", func(o Observation) float64 { return float64(min(o.Skips, 10)) },
		func(o Observation) string { return fmt.Sprintf("スキップ %d回", o.Skips) }},
	{"paused", func(o Observation) float64 { return b2f(o.Paused) },
		func(Observation) string { return "休止したことがある" }},
	{"inquiries", func(o Observation) float64 { return math.Log1p(float64(o.Inquiries)) },
		func(o Observation) string { return fmt.Sprintf("直近90日の問い合わせ %d件", o.Inquiries) }},
	{"open_inquiry", func(o Observation) float64 { return b2f(o.OpenInquiry) },
		func(Observation) string { return "未解決の問い合わせがある" }},
	{"complaints", func(o Observation) float64 { return float64(min(o.Complaints, 3)) },
		func(o Observation) string {
			return fmt.Sprintf("解約・不満に関する問い合わせ %d件", o.Complaints)
		}},
	{"engagement", func(o Observation) float64 { return math.Log1p(float64(o.Events)) },
		func(o Observation) string {
			return fmt.Sprintf("直近30日のサイト・アプリ利用が少ない（%d回）", o.Events)
		}},
	{"price", func(o Observation) float64 { return math.Log(math.Max(float64(o.Price), 1)) },
		func(o Observation) string { return fmt.Sprintf("お届け単価が高い（¥%d）", o.Price) }},
}

// FeatureNames lists the model's inputs in order.
func FeatureNames() []string {
	out := make([]string, len(features))
	for i, f := range features {
		out[i] = f.name
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (o Observation) vector() []float64 {
	v := make([]float64, len(features))
	for i, f := range features {
		v[i] = f.value(o)
	}
	return v
}

// Model is a fitted cancellation-risk model. Coefficients apply to features
// standardized by Mean and Scale; a coefficient is the change in log-odds
// for one standard deviation of its feature.
type Model struct {
	Features  []string  `json:"features"`
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
	Lambda    float64   `json:"lambda"` // L2 penalty on the coefficients
	// Samples are the decision points fitted on, Cancellations those that
	// ended in a cancellation; BaseRate their ratio.
	Samples       int     `json:"samples"`
	Cancellations int     `json:"cancellations"`
	BaseRate      float64 `json:"base_rate"`
	// AUC is the in-sample area under the ROC curve (0.5: no better than
	// chance); LogLoss the mean negative log-likelihood.
	AUC      float64   `json:"auc"`
	LogLoss  float64   `json:"log_loss"`
	FittedAt time.Time `json:"fitted_at"`
}

// Reason is one feature raising a subscriber's risk.
type Reason struct {
	Feature string  `json:"feature"`
	Label   string  `json:"label"`
	Value   float64 `json:"value"`
	// Contribution is the feature's addition to the log-odds compared with
	// the average subscriber.
	Contribution float64 `json:"contribution"`
}

// Risk is a live contract's risk of cancelling before its next delivery.
type Risk struct {
	Probability float64   `json:"probability"`
	Tier        string    `json:"tier"` // high | medium | low
	Reasons     []Reason  `json:"reasons"`
	ComputedAt  time.Time `json:"computed_at"`
}

// Risk tiers: high is at least twice the shop's base rate, medium above it.
const (
	TierHigh   = "high"
	TierMedium = "medium"
	TierLow    = "low"
)

// Sample is one decision point: what was known and whether the contract
// was cancelled before its next delivery.
type Sample struct {
	Obs       Observation
	Cancelled bool
}

// MinSamples is the least history a model is fitted on: decision points,
// and cancellations and continuations among them.
const (
	MinSamples  = 30
	MinOutcomes = 5
)

// DefaultLambda is the L2 penalty: it keeps rare features from getting
// large coefficients on a small shop's history.
const DefaultLambda = 1.0

// Fit fits the model by penalised maximum likelihood (Newton–Raphson).
func Fit(samples []Sample, lambda float64, now time.Time) (*Model, error) {
	n := len(samples)
	pos := 0
	for _, s := range samples {
		if s.Cancelled {
			pos++
		}
	}
	if n < MinSamples || pos < MinOutcomes || n-pos < MinOutcomes {
		return nil, errs.Errorf(errs.Invalid, "not enough subscription history to fit the risk model: %d deliveries with a known outcome, %d followed by a cancellation (need %d, with at least %d of each outcome)",
			n, pos, MinSamples, MinOutcomes)
	}
	k := len(features)
	m := &Model{Features: FeatureNames(), Mean: make([]float64, k), Scale: make([]float64, k), Coef: make([]float64, k),
		Lambda: lambda, Samples: n, Cancellations: pos, BaseRate: round(float64(pos)/float64(n), 6), FittedAt: now.UTC()}
	X := make([][]float64, n)
	y := make([]float64, n)
	for i, s := range samples {
		X[i] = s.Obs.vector()
		y[i] = b2f(s.Cancelled)
		for j, v := range X[i] {
			m.Mean[j] += v
		}
	}
	for j := range m.Mean {
		m.Mean[j] /= float64(n)
	}
	for _, x := range X {
		for j, v := range x {
			d := v - m.Mean[j]
			m.Scale[j] += d * d
		}
	}
	for j := range m.Scale {
		m.Scale[j] = math.Sqrt(m.Scale[j] / float64(n))
		if m.Scale[j] < 1e-9 {
			m.Scale[j] = 1 // a constant feature: standardizes to 0, keeps a zero coefficient
		}
	}
	for _, x := range X {
		for j := range x {
			x[j] = (x[j] - m.Mean[j]) / m.Scale[j]
		}
	}
	// beta[0] is the intercept, beta[1:] the coefficients.
	beta := make([]float64, k+1)
	beta[0] = math.Log(float64(pos) / float64(n-pos))
	for iter := 0; iter < 100; iter++ {
		grad := make([]float64, k+1)
		hess := make([][]float64, k+1)
		for i := range hess {
			hess[i] = make([]float64, k+1)
		}
		for i, x := range X {
			p := sigmoid(dot(beta, x))
			w := p * (1 - p)
			r := y[i] - p
			grad[0] += r
			hess[0][0] += w
			for a := 0; a < k; a++ {
				grad[a+1] += r * x[a]
				hess[0][a+1] += w * x[a]
				for b := a; b < k; b++ {
					hess[a+1][b+1] += w * x[a] * x[b]
				}
			}
		}
		for a := 1; a <= k; a++ {
			grad[a] -= lambda * beta[a]
			hess[a][a] += lambda
			for b := 0; b < a; b++ {
				hess[a][b] = hess[b][a]
			}
		}
		step, err := solve(hess, grad)
		if err != nil {
			return nil, fmt.Errorf("fit risk model: %w", err)
		}
		maxStep := 0.0
		for a := range beta {
			beta[a] += step[a]
			maxStep = math.Max(maxStep, math.Abs(step[a]))
		}
		if maxStep < 1e-9 {
			break
		}
	}
	m.Intercept = beta[0]
	copy(m.Coef, beta[1:])
	preds := make([]float64, n)
	ll := 0.0
	for i, x := range X {
		p := sigmoid(dot(beta, x))
		preds[i] = p
		p = math.Min(math.Max(p, 1e-12), 1-1e-12)
		if y[i] == 1 {
			ll -= math.Log(p)
		} else {
			ll -= math.Log(1 - p)
		}
	}
	m.LogLoss = round(ll/float64(n), 6)
	m.AUC = round(auc(preds, y), 4)
	return m, nil
}

func dot(beta, x []float64) float64 {
	s := beta[0]
	for j, v := range x {
		s += beta[j+1] * v
	}
	return s
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// solve solves A x = b for a symmetric positive definite A (Cholesky).
func solve(A [][]float64, b []float64) ([]float64, error) {
	n := len(b)
	L := make([][]float64, n)
	for i := range L {
		L[i] = make([]float64, n)
	}
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			s := A[i][j]
			for k := 0; k < j; k++ {
				s -= L[i][k] * L[j][k]
			}
			if i == j {
				if s <= 0 {
					return nil, fmt.Errorf("the information matrix is not positive definite")
				}
				L[i][i] = math.Sqrt(s)
			} else {
				L[i][j] = s / L[j][j]
			}
		}
	}
	z := make([]float64, n)
	for i := 0; i < n; i++ {
		s := b[i]
		for k := 0; k < i; k++ {
			s -= L[i][k] * z[k]
		}
		z[i] = s / L[i][i]
	}
	x := make([]float64, n)
	for i := n - 1; i >= 0; i-- {
		s := z[i]
		for k := i + 1; k < n; k++ {
			s -= L[k][i] * x[k]
		}
		x[i] = s / L[i][i]
	}
	return x, nil
}

// auc is the area under the ROC curve by the rank-sum formula, with ties
// counted half.
func auc(p, y []float64) float64 {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	var rankSum, pos float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if y[idx[k]] == 1 {
				rankSum += rank
				pos++
			}
		}
		i = j
	}
	neg := float64(len(p)) - pos
	if pos == 0 || neg == 0 {
		return 0.5
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// MaxReasons is how many reasons a score lists.
const MaxReasons = 3

// Score returns the risk of an observation with its main reasons.
func (m *Model) Score(o Observation, now time.Time) Risk {
	x := o.vector()
	z := m.Intercept
	var reasons []Reason
	for j, v := range x {
		if j >= len(m.Coef) {
			break
		}
		c := m.Coef[j] * (v - m.Mean[j]) / m.Scale[j]
		z += c
		if c > 0.05 {
			reasons = append(reasons, Reason{Feature: features[j].name, Label: features[j].label(o), Value: round(v, 4), Contribution: round(c, 4)})
		}
	}
	sort.Slice(reasons, func(a, b int) bool { return reasons[a].Contribution > reasons[b].Contribution })
	if len(reasons) > MaxReasons {
		reasons = reasons[:MaxReasons]
	}
	if reasons == nil {
		reasons = []Reason{}
	}
	p := sigmoid(z)
	tier := TierLow
	switch {
	case p >= 2*m.BaseRate:
		tier = TierHigh
	case p > m.BaseRate:
		tier = TierMedium
	}
	return Risk{Probability: round(p, 4), Tier: tier, Reasons: reasons, ComputedAt: now.UTC()}
}

// complaintWords mark an inquiry about cancelling or dissatisfaction (its
// subject, body or tags), a strong sign of a coming cancellation.
var complaintWords = []string{"解約", "退会", "停止", "休止", "やめ", "辞め", "止め", "キャンセル", "返品", "返金", "クレーム", "不満",
	"合わない", "肌荒れ", "かゆ", "痒", "効果", "高い", "多すぎ", "余って", "cancel", "refund", "unsubscribe"}

// IsComplaint reports whether an inquiry's text or tags speak of cancelling
// or dissatisfaction.
func IsComplaint(texts ...string) bool {
	for _, t := range texts {
		for _, w := range complaintWords {
			if containsFold(t, w) {
				return true
			}
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	if len(sub) > len(s) {
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		match := true
		for j := 0; j < len(sub); j++ {
			a, b := s[i+j], sub[j]
			if 'A' <= a && a <= 'Z' {
				a += 'a' - 'A'
			}
			if a != b {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
