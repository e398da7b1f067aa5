package analytics

import (
	"encoding/json"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

// CPMConfig are the thresholds of CPM (Customer Portfolio Management):
// a customer with no order for DormantDays has left (離脱), else is
// active (現役); one order is 初回; otherwise cumulative spend against
// SpendYen and tenure (first to last order) against TenureDays split
// よちよち, コツコツ, 流行 and 優良.
type CPMConfig struct {
	DormantDays int   `json:"dormant_days"`
	SpendYen    int64 `json:"spend_yen"`
	TenureDays  int   `json:"tenure_days"`
}

// DefaultCPMConfig: 240 days, 70,000 yen, 210 days.
func DefaultCPMConfig() CPMConfig {
	return CPMConfig{DormantDays: 240, SpendYen: 70000, TenureDays: 210}
}

// ParseCPMConfig reads the saved setting "analytics.cpm"; missing fields
// keep their defaults.
func ParseCPMConfig(raw string) (CPMConfig, error) {
	c := DefaultCPMConfig()
	if strings.TrimSpace(raw) == "" {
		return c, nil
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, errs.Errorf(errs.Invalid, "CPM settings are not valid JSON: %v", err)
	}
	return c, c.Validate()
}

// Validate checks the thresholds are positive.
func (c CPMConfig) Validate() error {
	switch {
	case c.DormantDays < 1:
		return errs.FieldErrorf("dormant_days", "must be at least 1")
	case c.SpendYen < 1:
		return errs.FieldErrorf("spend_yen", "must be at least 1")
	case c.TenureDays < 1:
		return errs.FieldErrorf("tenure_days", "must be at least 1")
	}
	return nil
}

// CPM stages, in report order.
const (
	CPMFirst  = "first"  // 初回: one order
	CPMNovice = "novice" // よちよち: low spend, short tenure
	CPMSteady = "steady" // コツコツ: low spend, long tenure
	CPMTrendy = "trendy" // 流行: high spend, short tenure
	CPMLoyal  = "loyal"  // 優良: high spend, long tenure
	CPMActive = "active" // 現役
	CPMLapsed = "lapsed" // 離脱
)

// CPMStages lists the stages in order with their Japanese names.
var CPMStages = []struct{ Key, Label string }{
	{CPMFirst, "初回"}, {CPMNovice, "よちよち"}, {CPMSteady, "コツコツ"}, {CPMTrendy, "流行"}, {CPMLoyal, "優良"},
}

// CPMGroups lists the ten group keys ("first_active" … "loyal_lapsed").
func CPMGroups() []string {
	var out []string
	for _, st := range CPMStages {
		out = append(out, st.Key+"_"+CPMActive, st.Key+"_"+CPMLapsed)
	}
	return out
}

// CPMLabel is a group's Japanese name, e.g. 初回現役.
func CPMLabel(group string) string {
	stage, state, _ := strings.Cut(group, "_")
	for _, st := range CPMStages {
		if st.Key == stage {
			return st.Label + map[string]string{CPMActive: "現役", CPMLapsed: "離脱"}[state]
		}
	}
	return group
}

// Group classifies a customer with orders paid orders totalling spent,
// tenureDays from first to last order and recencyDays since the last.
func (c CPMConfig) Group(orders, spent, tenureDays, recencyDays int64) string {
	stage := CPMFirst
	switch {
	case orders <= 1:
	case spent < c.SpendYen && tenureDays < int64(c.TenureDays):
		stage = CPMNovice
	case spent < c.SpendYen:
		stage = CPMSteady
	case tenureDays < int64(c.TenureDays):
		stage = CPMTrendy
	default:
		stage = CPMLoyal
	}
	if recencyDays >= int64(c.DormantDays) {
		return stage + "_" + CPMLapsed
	}
	return stage + "_" + CPMActive
}

// CPMGroup is one row of the CPM report.
type CPMGroup struct {
	Group        string  `json:"group"`
	Label        string  `json:"label"`
	Customers    int64   `json:"customers"`
	Revenue      int64   `json:"revenue"` // cumulative spend of the group's customers
	Share        float64 `json:"customer_share"`
	RevenueShare float64 `json:"revenue_share"`
}

// CPMReport is the report `cpm`.
type CPMReport struct {
	AsOf      string     `json:"as_of"`
	Config    CPMConfig  `json:"config"`
	Customers int64      `json:"customers"`
	Revenue   int64      `json:"revenue"`
	Groups    []CPMGroup `json:"groups"`
}

// NewCPMReport returns the ten groups at zero.
func NewCPMReport(asOf string, c CPMConfig) *CPMReport {
	r := &CPMReport{AsOf: asOf, Config: c}
	for _, g := range CPMGroups() {
		r.Groups = append(r.Groups, CPMGroup{Group: g, Label: CPMLabel(g)})
	}
	return r
}

// Add counts a customer.
func (r *CPMReport) Add(group string, spent int64) {
	for i := range r.Groups {
		if r.Groups[i].Group == group {
			r.Groups[i].Customers++
			r.Groups[i].Revenue += spent
		}
	}
	r.Customers++
	r.Revenue += spent
}

// Finish computes the shares.
func (r *CPMReport) Finish() {
	for i := range r.Groups {
		r.Groups[i].Share = ratio(r.Groups[i].Customers, r.Customers)
		r.Groups[i].RevenueShare = ratio(r.Groups[i].Revenue, r.Revenue)
	}
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
