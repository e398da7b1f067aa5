package ui

import (
	"context"

	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/reports"
)

// runMessages reads the send statistics per source (campaign, journey
// step, test send) and channel from the store.
func runMessages(ctx context.Context, u *UI, _ reports.Params) (any, error) {
	return u.cfg.Store.SendStats(ctx, "")
}

// buildMessages is the message results page: sent, delivered, opened,
// clicked, unsubscribed, conversions and revenue per source and channel.
func buildMessages(_ context.Context, _ *UI, b *base, out any, _ reports.Params) (*reportView, error) {
	stats, _ := out.([]channel.SourceStats)
	var total channel.SourceStats
	t := tableView{Title: b.T("report.messages"), Header: []string{b.T("messages.source"), b.T("kpi.channel"), b.T("messages.sent"), b.T("messages.delivered"),
		b.T("messages.opened"), b.T("messages.clicked"), b.T("messages.unsubscribed"), b.T("messages.bounced"), b.T("messages.conversions"), b.T("kpi.revenue")},
		Num: []bool{false, false, true, true, true, true, true, true, true, true}}
	rate := func(n, of int64) cell {
		c := numCell(n)
		if of > 0 {
			c.Text += " (" + fmtPct(ratio(n, of)) + ")"
		}
		return c
	}
	for _, s := range stats {
		t.Rows = append(t.Rows, []cell{textCell(s.Source), textCell(b.Label("channel.", s.Channel)), numCell(s.Sent), rate(s.Delivered, s.Sent),
			rate(s.Opened, s.Delivered), rate(s.Clicked, s.Delivered), rate(s.Unsubscribed, s.Delivered), numCell(s.Bounced + s.SoftBounced),
			numCell(s.Conversions), yenCell(s.Revenue)})
		total.Sent += s.Sent
		total.Delivered += s.Delivered
		total.Opened += s.Opened
		total.Clicked += s.Clicked
		total.Conversions += s.Conversions
		total.Revenue += s.Revenue
	}
	v := &reportView{Cards: []card{
		{Label: b.T("messages.sent"), Value: formatNum(total.Sent)},
		{Label: b.T("messages.delivered"), Value: formatNum(total.Delivered)},
		{Label: b.T("messages.open_rate"), Value: fmtPct(ratio(total.Opened, total.Delivered))},
		{Label: b.T("messages.click_rate"), Value: fmtPct(ratio(total.Clicked, total.Delivered))},
		{Label: b.T("messages.conversions"), Value: formatNum(total.Conversions)},
		{Label: b.T("kpi.revenue"), Value: "¥" + formatNum(total.Revenue)},
	}}
	v.Notes = append(v.Notes, b.T("messages.lead"))
	v.Tables = append(v.Tables, t)
	return v, nil
}
