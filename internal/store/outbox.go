package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/journey"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// OutboxStore keeps the outbox (docs/journeys.md, "Channel integration").
type OutboxStore interface {
	outbox.Store
	// RecordEngagement notes that the message sent under key was opened or
	// clicked (the first time counts); the channels' tracking calls it.
	RecordEngagement(ctx context.Context, key, kind string, at time.Time) error
	// RecordConversion attributes an order's revenue to the message sent
	// under key (the channels' attribution calls it).
	RecordConversion(ctx context.Context, key string, revenue int64, at time.Time) error
	// OutboxItems lists a customer's messages, newest first.
	OutboxItems(ctx context.Context, customerID int64, limit int) ([]OutboxEntry, error)
	SetMessagingRules(ctx context.Context, r outbox.Rules) error
}

// OutboxEntry is a row of the outbox as listed.
type OutboxEntry struct {
	ID         int64           `json:"id"`
	Key        string          `json:"key"`
	CustomerID int64           `json:"customer_id"`
	Channel    message.Channel `json:"channel"`
	Purpose    message.Purpose `json:"purpose"`
	Source     string          `json:"source"`
	Status     string          `json:"status"`
	NotBefore  time.Time       `json:"not_before"`
	Attempts   int             `json:"attempts"`
	LastError  string          `json:"last_error,omitempty"`
	SentAt     *time.Time      `json:"sent_at,omitempty"`
	OpenedAt   *time.Time      `json:"opened_at,omitempty"`
	ClickedAt  *time.Time      `json:"clicked_at,omitempty"`
}

var _ OutboxStore = (*DB)(nil)

// outboxRow is a row to insert.
type outboxRow struct {
	item         message.Outgoing
	journeyID    int64
	step         string
	enrollmentID int64
	campaignID   int64
	variant      string
	status       string
	timeZone     string
}

// insertOutbox writes rows; a key already present is left alone.
func (db *DB) insertOutbox(ctx context.Context, tx *Tx, rows []outboxRow, now time.Time) error {
	t := ms(now)
	_, err := db.insertMany(ctx, tx, `INSERT INTO outbox (key, customer_id, origin_customer_id, channel, purpose, template_id, source, journey_id, step,
		enrollment_id, campaign_id, variant, vars, status, not_before, time_zone, created_at)`, 17, `ON CONFLICT (key) DO NOTHING`, len(rows),
		func(i int, args []any) []any {
			r := &rows[i]
			vars := "{}"
			if len(r.item.Vars) > 0 {
				b, _ := json.Marshal(r.item.Vars)
				vars = string(b)
			}
			nb := r.item.NotBefore
			if nb.IsZero() {
				nb = now
			}
			return append(args, r.item.Key, r.item.CustomerID, r.item.CustomerID, string(r.item.Channel), string(r.item.Purpose), r.item.TemplateID,
				r.item.Source, nullID(r.journeyID), r.step, nullID(r.enrollmentID), nullID(r.campaignID), r.variant, vars, r.status, ms(nb), r.timeZone, t)
		})
	if err != nil {
		return fmt.Errorf("write outbox: %w", err)
	}
	return nil
}

const outboxCols = `o.id, o.key, o.customer_id, o.channel, o.purpose, o.template_id, o.source, o.journey_id, o.step, o.enrollment_id,
	o.campaign_id, o.variant, o.vars, o.status, o.not_before, o.time_zone, o.exempt, o.attempts, o.lease_token`

func scanOutbox(r rowScanner, tz *string) (outbox.Item, int64, error) {
	var it outbox.Item
	var journeyID, enrollmentID, campaignID sql.NullInt64
	var channel, purpose, vars string
	var nb, token int64
	err := r.Scan(&it.ID, &it.Key, &it.CustomerID, &channel, &purpose, &it.TemplateID, &it.Source, &journeyID, &it.Step, &enrollmentID,
		&campaignID, &it.Variant, &vars, &it.Status, &nb, &it.TimeZone, &it.Exempt, &it.Attempts, &token, tz)
	if err != nil {
		return it, 0, err
	}
	it.Channel, it.Purpose = message.Channel(channel), message.Purpose(purpose)
	it.JourneyID, it.EnrollmentID, it.CampaignID = journeyID.Int64, enrollmentID.Int64, campaignID.Int64
	it.NotBefore = fromMS(nb)
	if vars != "" && vars != "{}" {
		if err := json.Unmarshal([]byte(vars), &it.Vars); err != nil {
			return it, 0, fmt.Errorf("outbox %d: vars: %w", it.ID, err)
		}
	}
	return it, token, nil
}

// ClaimOutbox leases due items: queued ones due at now, and sending ones
// whose lease ran out (their worker died during the call).
func (db *DB) ClaimOutbox(ctx context.Context, now time.Time, n int, lease time.Duration) ([]outbox.Item, error) {
	var out []outbox.Item
	err := db.leaseRows(ctx, "outbox", `status IN ('queued', 'sending') AND not_before <= $1`, `ORDER BY not_before`, ms(now), n, lease,
		func(tx *Tx, vals []any) error {
			cond, args := db.Dialect.InList("o.id", 2, vals)
			rows, err := tx.QueryContext(ctx, `SELECT `+outboxCols+`, COALESCE(`+db.Dialect.JSONText("c.attributes", "$1")+`, '')
				FROM outbox o LEFT JOIN customers c ON c.id = o.customer_id WHERE `+cond+` ORDER BY o.not_before, o.id`, append([]any{"timezone"}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			out = out[:0]
			for rows.Next() {
				var tz string
				it, tok, err := scanOutbox(rows, &tz)
				if err != nil {
					return err
				}
				it.Token = tok
				if it.TimeZone == "" {
					it.TimeZone = tz
				}
				out = append(out, it)
			}
			return rows.Err()
		})
	if err != nil {
		return nil, err
	}
	return out, db.fillCampaignContent(ctx, out)
}

// fillCampaignContent gives campaign items their variant's template and
// merge fields (campaign rows do not store them, one per recipient).
func (db *DB) fillCampaignContent(ctx context.Context, items []outbox.Item) error {
	cache := map[int64]*campaign.Campaign{}
	for i := range items {
		it := &items[i]
		if it.CampaignID == 0 {
			continue
		}
		c, ok := cache[it.CampaignID]
		if !ok {
			var err error
			if c, err = db.Campaign(ctx, it.CampaignID); err != nil {
				return err
			}
			cache[it.CampaignID] = c
		}
		v, ok := c.Variant(it.Variant)
		if !ok {
			return fmt.Errorf("outbox %d: campaign %d has no variant %q", it.ID, c.ID, it.Variant)
		}
		it.TemplateID = v.TemplateID
		vars := campaign.VariantVars(c, v)
		for k, x := range it.Vars {
			vars[k] = x
		}
		it.Vars = vars
	}
	return nil
}

// capLock is the advisory lock that serialises frequency-cap decisions.
const capLock = 0x656e697368690010

// ReserveSends decides and records, for claimed items, whether they are
// sent now, wait (quiet hours) or are dropped (caps).
func (db *DB) ReserveSends(ctx context.Context, items []outbox.Item, lease time.Duration, decide func(it outbox.Item, channel, all outbox.Counts) outbox.Decision) ([]outbox.Item, error) {
	var send []outbox.Item
	var capped []outbox.Result
	err := db.inTx(ctx, func(tx *Tx) error {
		send, capped = send[:0], capped[:0]
		if db.Dialect.Name() == "postgres" {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(capLock)); err != nil {
				return err
			}
		}
		now := db.Clock.Now()
		day := clock.StartOfDay(now)
		week := day.AddDate(0, 0, -6)
		leaseEnd := time.Now().Add(lease)
		counts := map[int64]map[string]*outbox.Counts{}
		var cids []any
		for _, it := range items {
			if _, ok := counts[it.CustomerID]; !ok {
				counts[it.CustomerID] = map[string]*outbox.Counts{"*": {}}
				cids = append(cids, it.CustomerID)
			}
		}
		// Items claimed again after a crash (status sending) must not count
		// against themselves.
		self := map[int64]bool{}
		for _, it := range items {
			self[it.ID] = true
		}
		err := db.chunk(len(cids), 1, func(lo, hi int) error {
			cond, args := db.Dialect.InList("customer_id", 3, cids[lo:hi])
			rows, err := tx.QueryContext(ctx, `SELECT id, customer_id, channel, attempted_at FROM outbox WHERE purpose = 'marketing'
				AND status IN ('sent', 'sending') AND exempt = $1 AND attempted_at >= $2 AND `+cond,
				append([]any{false, ms(week)}, args...)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, cid, at int64
				var ch string
				if err := rows.Scan(&id, &cid, &ch, &at); err != nil {
					return err
				}
				if self[id] {
					continue
				}
				for _, k := range []string{ch, "*"} {
					c := counts[cid][k]
					if c == nil {
						c = &outbox.Counts{}
						counts[cid][k] = c
					}
					c.Week++
					if at >= ms(day) {
						c.Day++
					}
				}
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			ch := counts[it.CustomerID][string(it.Channel)]
			if ch == nil {
				ch = &outbox.Counts{}
				counts[it.CustomerID][string(it.Channel)] = ch
			}
			all := counts[it.CustomerID]["*"]
			d := decide(it, *ch, *all)
			switch d.Status {
			case outbox.Sending:
				res, err := tx.execCached(ctx, db, `UPDATE outbox SET status = 'sending', attempts = attempts + 1, attempted_at = $1, lease_until = $2
					WHERE id = $3 AND lease_token = $4`, []any{ms(now), leaseEnd.UnixMilli(), it.ID, it.Token})
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n == 0 {
					continue
				}
				if it.Purpose == message.Marketing && !it.Exempt {
					ch.Day++
					ch.Week++
					all.Day++
					all.Week++
				}
				it.Status = outbox.Sending
				it.Attempts++
				it.LeaseEnd = leaseEnd
				send = append(send, it)
			case outbox.Queued:
				if _, err := tx.execCached(ctx, db, `UPDATE outbox SET status = 'queued', not_before = $1, lease_until = 0 WHERE id = $2 AND lease_token = $3`,
					[]any{ms(d.NotBefore), it.ID, it.Token}); err != nil {
					return err
				}
			case outbox.Capped:
				capped = append(capped, outbox.Result{Item: it, Status: outbox.Capped})
			}
		}
		return db.finishSendsTx(ctx, tx, capped, now)
	})
	if err != nil {
		return nil, err
	}
	return send, nil
}

// FinishSends records what the channels said.
func (db *DB) FinishSends(ctx context.Context, rs []outbox.Result) error {
	if len(rs) == 0 {
		return nil
	}
	return db.inTx(ctx, func(tx *Tx) error {
		return db.finishSendsTx(ctx, tx, rs, db.Clock.Now())
	})
}

// finishSendsTx writes outcomes under each item's lease and moves the
// journey enrollments of final ones on.
func (db *DB) finishSendsTx(ctx context.Context, tx *Tx, rs []outbox.Result, now time.Time) error {
	stats := map[statKey]int64{}
	t := ms(now)
	for _, r := range rs {
		it := r.Item
		var res sql.Result
		var err error
		switch r.Status {
		case outbox.Queued:
			res, err = tx.execCached(ctx, db, `UPDATE outbox SET status = 'queued', not_before = $1, last_error = $2, lease_until = 0
				WHERE id = $3 AND lease_token = $4`, []any{ms(r.NotBefore), truncateText(r.Error, 500), it.ID, it.Token})
		case outbox.Sent:
			res, err = tx.execCached(ctx, db, `UPDATE outbox SET status = 'sent', sent_at = $1, provider_id = $2, last_error = '', lease_until = 0
				WHERE id = $3 AND lease_token = $4`, []any{t, r.ProviderID, it.ID, it.Token})
		default: // failed, skipped, capped
			res, err = tx.execCached(ctx, db, `UPDATE outbox SET status = $1, last_error = $2, lease_until = 0 WHERE id = $3 AND lease_token = $4`,
				[]any{r.Status, truncateText(r.Error, 500), it.ID, it.Token})
		}
		if err != nil {
			return fmt.Errorf("outbox %d: %w", it.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 || r.Status == outbox.Queued || it.EnrollmentID == 0 {
			continue
		}
		metric := map[string]string{outbox.Sent: journey.MetricSent, outbox.Failed: journey.MetricFailed,
			outbox.Skipped: journey.MetricSkipped, outbox.Capped: journey.MetricCapped}[r.Status]
		stats[statKey{it.JourneyID, it.Step, metric}]++
		if _, err := tx.execCached(ctx, db, `UPDATE journey_enrollments SET state = 'ready', sub = $1, due_at = $2
			WHERE id = $3 AND state = 'sending' AND step = $4`, []any{r.Status, t, it.EnrollmentID, it.Step}); err != nil {
			return err
		}
	}
	return db.addJourneyStats(ctx, tx, stats)
}

// MessagingRules returns the shop's sending rules, the defaults when unset.
func (db *DB) MessagingRules(ctx context.Context) (outbox.Rules, error) {
	v, ok, err := db.Setting(ctx, outbox.RulesSetting)
	if err != nil {
		return outbox.Rules{}, err
	}
	if !ok {
		return outbox.DefaultRules(), nil
	}
	r, err := outbox.ParseRules([]byte(v))
	if err != nil {
		return outbox.Rules{}, fmt.Errorf("stored messaging rules are invalid (set them again): %w", err)
	}
	return r, nil
}

// SetMessagingRules validates and stores the sending rules.
func (db *DB) SetMessagingRules(ctx context.Context, r outbox.Rules) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(r)
	return db.SetSetting(ctx, outbox.RulesSetting, string(b))
}

// RecordEngagement marks the first open or click of a message and counts
// it on its journey step.
func (db *DB) RecordEngagement(ctx context.Context, key, kind string, at time.Time) error {
	if kind != "opened" && kind != "clicked" {
		return errs.FieldErrorf("kind", "opened or clicked")
	}
	return db.inTx(ctx, func(tx *Tx) error {
		var id int64
		var journeyID sql.NullInt64
		var step string
		var opened, clicked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT id, journey_id, step, opened_at, clicked_at FROM outbox WHERE key = $1`, key).
			Scan(&id, &journeyID, &step, &opened, &clicked)
		if err != nil {
			return notFound(err, "message", key)
		}
		stats := map[statKey]int64{}
		if !opened.Valid { // a click without a tracked open is an open too
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET opened_at = $1 WHERE id = $2`, ms(at), id); err != nil {
				return err
			}
			stats[statKey{journeyID.Int64, step, journey.MetricOpened}]++
		}
		if kind == "clicked" && !clicked.Valid {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET clicked_at = $1 WHERE id = $2`, ms(at), id); err != nil {
				return err
			}
			stats[statKey{journeyID.Int64, step, journey.MetricClicked}]++
		}
		if !journeyID.Valid {
			return nil
		}
		return db.addJourneyStats(ctx, tx, stats)
	})
}

// RecordConversion attributes revenue to a message: the first conversion
// counts once, revenue adds up.
func (db *DB) RecordConversion(ctx context.Context, key string, revenue int64, at time.Time) error {
	return db.inTx(ctx, func(tx *Tx) error {
		var id int64
		var journeyID sql.NullInt64
		var step string
		var converted sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT id, journey_id, step, converted_at FROM outbox WHERE key = $1`, key).Scan(&id, &journeyID, &step, &converted)
		if err != nil {
			return notFound(err, "message", key)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE outbox SET converted_at = COALESCE(converted_at, $1), revenue = revenue + $2 WHERE id = $3`, ms(at), revenue, id); err != nil {
			return err
		}
		if !journeyID.Valid {
			return nil
		}
		stats := map[statKey]int64{{journeyID.Int64, step, journey.MetricRevenue}: revenue}
		if !converted.Valid {
			stats[statKey{journeyID.Int64, step, journey.MetricConverted}] = 1
		}
		return db.addJourneyStats(ctx, tx, stats)
	})
}

// OutboxItems lists a customer's messages, newest first.
func (db *DB) OutboxItems(ctx context.Context, customerID int64, limit int) ([]OutboxEntry, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT id, key, customer_id, channel, purpose, source, status, not_before, attempts, last_error,
		sent_at, opened_at, clicked_at FROM outbox WHERE customer_id = $1 ORDER BY id DESC LIMIT $2`, customerID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []OutboxEntry{}
	for rows.Next() {
		var e OutboxEntry
		var nb int64
		var sent, opened, clicked sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Key, &e.CustomerID, &e.Channel, &e.Purpose, &e.Source, &e.Status, &nb, &e.Attempts, &e.LastError,
			&sent, &opened, &clicked); err != nil {
			return nil, err
		}
		e.NotBefore = fromMS(nb)
		e.SentAt, e.OpenedAt, e.ClickedAt = fromNullMS(sent), fromNullMS(opened), fromNullMS(clicked)
		out = append(out, e)
	}
	return out, rows.Err()
}
