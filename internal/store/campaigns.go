package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/campaign"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// CampaignStore keeps campaigns (docs/campaigns.md).
type CampaignStore interface {
	CreateCampaign(ctx context.Context, c campaign.Campaign) (*campaign.Campaign, error)
	// UpdateCampaign changes a draft or scheduled campaign.
	UpdateCampaign(ctx context.Context, c campaign.Campaign) (*campaign.Campaign, error)
	Campaigns(ctx context.Context) ([]campaign.Campaign, error)
	// ScheduleCampaign sets a draft's send time (zero: now) and queues it.
	ScheduleCampaign(ctx context.Context, id int64, at time.Time) (*campaign.Campaign, error)
	// PauseCampaign holds its queued messages; ResumeCampaign lets them go
	// (spread again by the throttle); CancelCampaign drops those not sent.
	PauseCampaign(ctx context.Context, id int64) (*campaign.Campaign, error)
	ResumeCampaign(ctx context.Context, id int64) (*campaign.Campaign, error)
	CancelCampaign(ctx context.Context, id int64) (*campaign.Campaign, error)
	// CampaignRecipient returns one customer as a campaign recipient.
	CampaignRecipient(ctx context.Context, customerID int64) (campaign.Recipient, error)

	campaign.Store
}

var _ CampaignStore = (*DB)(nil)

const campaignCols = `id, status, definition, winner, winner_why, created_by, created_at, updated_at, started_at, done_at`

func scanCampaign(r rowScanner) (*campaign.Campaign, error) {
	var c campaign.Campaign
	var id int64
	var status, def, winner, why, by string
	var created, updated int64
	var started, done sql.NullInt64
	if err := r.Scan(&id, &status, &def, &winner, &why, &by, &created, &updated, &started, &done); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(def), &c); err != nil {
		return nil, fmt.Errorf("campaign %d: stored definition: %w", id, err)
	}
	c.ID, c.Status, c.Winner, c.WinnerWhy, c.CreatedBy = id, status, winner, why, by
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	c.StartedAt, c.DoneAt = fromNullMS(started), fromNullMS(done)
	return &c, nil
}

// campaignDef is the stored JSON: what the user defines.
func campaignDef(c *campaign.Campaign) string {
	d := *c
	d.ID, d.Status, d.Winner, d.WinnerWhy, d.CreatedBy = 0, "", "", "", ""
	d.CreatedAt, d.UpdatedAt, d.StartedAt, d.DoneAt = time.Time{}, time.Time{}, nil, nil
	b, _ := json.Marshal(d)
	return string(b)
}

func (db *DB) checkCampaignSegment(ctx context.Context, id int64) error {
	if _, err := db.Segment(ctx, id); err != nil {
		if errs.Code(err) == errs.NotFound {
			return errs.FieldErrorf("segment_id", "segment %d does not exist", id)
		}
		return err
	}
	return nil
}

// CreateCampaign stores a draft campaign.
func (db *DB) CreateCampaign(ctx context.Context, c campaign.Campaign) (*campaign.Campaign, error) {
	c.Status = campaign.Draft
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := db.checkCampaignSegment(ctx, c.SegmentID); err != nil {
		return nil, err
	}
	now := ms(db.Clock.Now())
	var id int64
	err := db.Write.QueryRowContext(ctx, `INSERT INTO campaigns (name, status, segment_id, definition, created_by, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id`, c.Name, campaign.Draft, c.SegmentID, campaignDef(&c), c.CreatedBy, now).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("create campaign: %w", err)
	}
	return db.Campaign(ctx, id)
}

// UpdateCampaign replaces a draft or scheduled campaign's definition.
func (db *DB) UpdateCampaign(ctx context.Context, c campaign.Campaign) (*campaign.Campaign, error) {
	cur, err := db.Campaign(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if cur.Status != campaign.Draft && cur.Status != campaign.Scheduled {
		return nil, errs.Errorf(errs.Conflict, "campaign %d is %s; only drafts and scheduled campaigns change", c.ID, cur.Status)
	}
	c.Status = cur.Status
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := db.checkCampaignSegment(ctx, c.SegmentID); err != nil {
		return nil, err
	}
	res, err := db.Write.ExecContext(ctx, `UPDATE campaigns SET name = $1, segment_id = $2, definition = $3, send_at = $4, start_at = $5, updated_at = $6
		WHERE id = $7 AND status IN ('draft', 'scheduled')`,
		c.Name, c.SegmentID, campaignDef(&c), msPtrP(c.SendAt), startAt(&c, cur.Status), ms(db.Clock.Now()), c.ID)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errs.Errorf(errs.Conflict, "campaign %d started meanwhile", c.ID)
	}
	return db.Campaign(ctx, c.ID)
}

func startAt(c *campaign.Campaign, status string) any {
	if status != campaign.Scheduled {
		return nil
	}
	return ms(c.MaterializeAt())
}

// Campaign returns one campaign.
func (db *DB) Campaign(ctx context.Context, id int64) (*campaign.Campaign, error) {
	c, err := scanCampaign(db.Read.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "campaign", id)
	}
	return c, nil
}

// Campaigns lists campaigns, newest first.
func (db *DB) Campaigns(ctx context.Context) ([]campaign.Campaign, error) {
	return db.campaignsWhere(ctx, `1 = 1 ORDER BY id DESC`)
}

func (db *DB) campaignsWhere(ctx context.Context, where string, args ...any) ([]campaign.Campaign, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanCampaign)
}

// ScheduleCampaign queues a draft for at (zero: at once).
func (db *DB) ScheduleCampaign(ctx context.Context, id int64, at time.Time) (*campaign.Campaign, error) {
	c, err := db.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.Status != campaign.Draft && c.Status != campaign.Scheduled {
		return nil, errs.Errorf(errs.Conflict, "campaign %d is %s", id, c.Status)
	}
	now := db.Clock.Now()
	if at.IsZero() {
		at = now
	}
	if at.Before(now.Add(-time.Minute)) {
		return nil, errs.FieldErrorf("send_at", "is in the past")
	}
	c.SendAt = &at
	res, err := db.Write.ExecContext(ctx, `UPDATE campaigns SET status = 'scheduled', definition = $1, send_at = $2, start_at = $3, updated_at = $4
		WHERE id = $5 AND status IN ('draft', 'scheduled')`, campaignDef(c), ms(at), ms(c.MaterializeAt()), ms(now), id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, errs.Errorf(errs.Conflict, "campaign %d started meanwhile", id)
	}
	db.notifyChanged()
	return db.Campaign(ctx, id)
}

// campaignMove changes a campaign's status from one of from, moving its
// outbox rows in the same transaction.
func (db *DB) campaignMove(ctx context.Context, id int64, to string, from []string, rows func(tx *Tx, now time.Time) error) (*campaign.Campaign, error) {
	err := db.inTx(ctx, func(tx *Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM campaigns WHERE id = $1`, id).Scan(&status); err != nil {
			return notFound(err, "campaign", id)
		}
		ok := false
		for _, f := range from {
			ok = ok || f == status
		}
		if !ok {
			return errs.Errorf(errs.Conflict, "campaign %d is %s; cannot make it %s", id, status, to)
		}
		now := db.Clock.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = $1, updated_at = $2 WHERE id = $3`, to, ms(now), id); err != nil {
			return err
		}
		return rows(tx, now)
	})
	if err != nil {
		return nil, err
	}
	db.notifyChanged()
	return db.Campaign(ctx, id)
}

// PauseCampaign holds the queued messages of a running campaign. Messages
// being sent at that moment finish; none is sent twice.
func (db *DB) PauseCampaign(ctx context.Context, id int64) (*campaign.Campaign, error) {
	return db.campaignMove(ctx, id, campaign.Paused, []string{campaign.Running, campaign.Scheduled}, func(tx *Tx, _ time.Time) error {
		_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'paused' WHERE campaign_id = $1 AND status = 'queued'`, id)
		return err
	})
}

// ResumeCampaign lets a paused campaign's messages go again, spread from
// now by its throttle.
func (db *DB) ResumeCampaign(ctx context.Context, id int64) (*campaign.Campaign, error) {
	c, err := db.Campaign(ctx, id)
	if err != nil {
		return nil, err
	}
	to := campaign.Running
	if c.StartedAt == nil {
		to = campaign.Scheduled
	}
	return db.campaignMove(ctx, id, to, []string{campaign.Paused}, func(tx *Tx, now time.Time) error {
		if c.ThrottlePerMinute <= 0 {
			_, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'queued' WHERE campaign_id = $1 AND status = 'paused'`, id)
			return err
		}
		return db.respread(ctx, tx, id, "paused", c.ThrottlePerMinute, now, nil)
	})
}

// respread makes a campaign's rows of status from queued again, due no
// earlier than now + their rank / perMinute minutes (and, when set, with
// the given variant).
func (db *DB) respread(ctx context.Context, tx *Tx, id int64, from string, perMinute int, now time.Time, variant *campaign.Variant) error {
	rows, err := tx.QueryContext(ctx, `SELECT id, not_before FROM outbox WHERE campaign_id = $1 AND status = $2 ORDER BY not_before, id`, id, from)
	if err != nil {
		return err
	}
	type row struct{ id, nb int64 }
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.nb); err != nil {
			rows.Close()
			return err
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, r := range rs {
		nb := max(r.nb, ms(now))
		if perMinute > 0 {
			nb = max(nb, ms(now)+int64(i/perMinute)*60_000)
		}
		args := []any{nb, r.id}
		q := `UPDATE outbox SET status = 'queued', not_before = $1 WHERE id = $2`
		if variant != nil {
			q = `UPDATE outbox SET status = 'queued', not_before = $1, variant = $3, source = $4, template_id = $5 WHERE id = $2`
			args = append(args, variant.Name, campaign.Source(id, variant.Name), variant.TemplateID)
		}
		if _, err := tx.execCached(ctx, db, q, args); err != nil {
			return err
		}
	}
	return nil
}

// CancelCampaign drops every message of the campaign not sent yet.
func (db *DB) CancelCampaign(ctx context.Context, id int64) (*campaign.Campaign, error) {
	return db.campaignMove(ctx, id, campaign.Cancelled, []string{campaign.Draft, campaign.Scheduled, campaign.Running, campaign.Paused},
		func(tx *Tx, now time.Time) error {
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET status = 'cancelled' WHERE campaign_id = $1 AND status IN ('queued', 'paused', 'held')`, id); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE campaigns SET done_at = $1 WHERE id = $2`, ms(now), id)
			return err
		})
}

// DueCampaigns lists scheduled campaigns whose start time has come.
func (db *DB) DueCampaigns(ctx context.Context, now time.Time) ([]campaign.Campaign, error) {
	return db.campaignsWhere(ctx, `status = 'scheduled' AND start_at <= $1 ORDER BY start_at, id`, ms(now))
}

// RunningCampaigns lists campaigns in flight.
func (db *DB) RunningCampaigns(ctx context.Context) ([]campaign.Campaign, error) {
	return db.campaignsWhere(ctx, `status = 'running' ORDER BY id`)
}

// SegmentRecipients snapshots a segment's members with their time zones.
func (db *DB) SegmentRecipients(ctx context.Context, segmentID int64) ([]campaign.Recipient, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT m.customer_id, COALESCE(`+db.Dialect.JSONText("c.attributes", "$2")+`, '')
		FROM segment_members m JOIN customers c ON c.id = m.customer_id WHERE m.segment_id = $1 AND c.status = 'active' ORDER BY m.customer_id`,
		segmentID, "timezone")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []campaign.Recipient
	for rows.Next() {
		var r campaign.Recipient
		if err := rows.Scan(&r.CustomerID, &r.TimeZone); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CampaignRecipient returns a customer as a recipient (preview, test send).
func (db *DB) CampaignRecipient(ctx context.Context, customerID int64) (campaign.Recipient, error) {
	r := campaign.Recipient{CustomerID: customerID}
	err := db.Read.QueryRowContext(ctx, `SELECT COALESCE(`+db.Dialect.JSONText("attributes", "$2")+`, '') FROM customers WHERE id = $1 AND status = 'active'`,
		customerID, "timezone").Scan(&r.TimeZone)
	if err != nil {
		return r, notFound(err, "customer", customerID)
	}
	return r, nil
}

// StartCampaign moves a scheduled campaign to running with its outbox rows.
func (db *DB) StartCampaign(ctx context.Context, id int64, items []outbox.Item) error {
	err := db.inTx(ctx, func(tx *Tx) error {
		now := db.Clock.Now()
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = 'running', started_at = $1, updated_at = $1 WHERE id = $2 AND status = 'scheduled'`, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Errorf(errs.Conflict, "campaign %d is no longer scheduled", id)
		}
		rows := make([]outboxRow, len(items))
		for i, it := range items {
			out := it.Outgoing
			out.Vars = nil // read from the campaign when sent
			rows[i] = outboxRow{item: out, campaignID: id, variant: it.Variant, status: it.Status, timeZone: it.TimeZone}
		}
		return db.insertOutbox(ctx, tx, rows, now)
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

// CampaignStats counts a campaign's messages by variant.
func (db *DB) CampaignStats(ctx context.Context, id int64) ([]campaign.VariantStats, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT variant, count(*),
		SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END),
		SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), SUM(CASE WHEN status = 'capped' THEN 1 ELSE 0 END),
		SUM(CASE WHEN opened_at IS NOT NULL THEN 1 ELSE 0 END), SUM(CASE WHEN clicked_at IS NOT NULL THEN 1 ELSE 0 END),
		SUM(CASE WHEN converted_at IS NOT NULL THEN 1 ELSE 0 END), SUM(revenue),
		SUM(CASE WHEN status IN ('held', 'queued', 'paused', 'sending') THEN 1 ELSE 0 END)
		FROM outbox WHERE campaign_id = $1 GROUP BY variant ORDER BY variant`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []campaign.VariantStats{}
	for rows.Next() {
		var v campaign.VariantStats
		if err := rows.Scan(&v.Variant, &v.Recipients, &v.Sent, &v.Skipped, &v.Failed, &v.Capped, &v.Opened, &v.Clicked, &v.Converted, &v.Revenue, &v.Pending); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ChooseWinner records the A/B winner and releases the held messages.
func (db *DB) ChooseWinner(ctx context.Context, c *campaign.Campaign, winner, why string, now time.Time) error {
	v, ok := c.Variant(winner)
	if !ok {
		return errs.Errorf(errs.Invalid, "campaign %d has no variant %q", c.ID, winner)
	}
	err := db.inTx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET winner = $1, winner_why = $2, updated_at = $3 WHERE id = $4 AND winner = ''`, winner, why, ms(now), c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // chosen already
		}
		return db.respread(ctx, tx, c.ID, "held", c.ThrottlePerMinute, now, v)
	})
	if err == nil {
		db.notifyChanged()
	}
	return err
}

// FinishCampaign marks a running campaign done once nothing is pending.
func (db *DB) FinishCampaign(ctx context.Context, id int64) (bool, error) {
	res, err := db.Write.ExecContext(ctx, `UPDATE campaigns SET status = 'done', done_at = $1, updated_at = $1 WHERE id = $2 AND status = 'running'
		AND NOT EXISTS (SELECT 1 FROM outbox WHERE campaign_id = $2 AND status IN ('held', 'queued', 'paused', 'sending'))`, ms(db.Clock.Now()), id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
