package ui

import (
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// Base returns the page's base, for partials that take it as an argument
// beside their own data ({{template "x" dict "B" $.Base …}}).
func (b *base) Base() *base { return b }

// MetricValue shows a rank metric's value: yen for spend, a count for
// orders.
func (b *base) MetricValue(m loyalty.Metric, v int64) string {
	if m == loyalty.MetricOrders {
		return b.T("loyalty.n_orders", formatNum(v))
	}
	return "¥" + formatNum(v)
}

// LastDay shows an end (the first instant something no longer applies) as
// its last valid Tokyo day; "" when there is no end.
func (b *base) LastDay(end *time.Time) string {
	if end == nil {
		return ""
	}
	return end.Add(-time.Millisecond).In(clock.Tokyo).Format(time.DateOnly)
}
