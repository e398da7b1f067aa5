package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
)

// IngestStore is the durable inbox of real-time ingestion and the small
// tables the integrations keep (internal/ingest uses it).
type IngestStore interface {
	// EnqueueInbox writes accepted requests in one transaction and returns
	// each one's id, or 0 for one whose (kind, source, dedupe key) is
	// already in the inbox (a platform's redelivery).
	EnqueueInbox(ctx context.Context, items []InboxItem) ([]int64, error)
	// ClaimInbox leases up to limit pending rows, by priority then age, to
	// worker for lease: no
	// other worker, in this process or another, gets them until the lease
	// runs out or they are completed or failed.
	ClaimInbox(ctx context.Context, worker string, limit int, lease time.Duration) ([]InboxItem, error)
	// CompleteInbox marks rows done.
	CompleteInbox(ctx context.Context, ids []int64) error
	// FailInbox records a failed attempt: the row is retried at retryAt,
	// or, when dead, moves to the dead-letter list.
	FailInbox(ctx context.Context, id int64, message string, retryAt time.Time, dead bool) error
	InboxStatus(ctx context.Context) (InboxStatus, error)
	// InboxItems lists rows with a status (dead for the dead-letter list),
	// newest first.
	InboxItems(ctx context.Context, status string, limit, offset int) ([]InboxItem, error)
	InboxItem(ctx context.Context, id int64) (*InboxItem, error)
	// RetryInbox puts a dead or discarded row back in the queue.
	RetryInbox(ctx context.Context, id int64) error
	// DiscardInbox gives up on a dead row; it stays listed as discarded.
	DiscardInbox(ctx context.Context, id int64) error
	// PruneInbox deletes done and discarded rows received before t.
	PruneInbox(ctx context.Context, before time.Time) (int64, error)

	// StitchAnonymous files the events stored with only one of the given
	// anonymous ids under the customer now holding that id (identity kind
	// anonymous), keeping the identifier's origin for unmerge.
	StitchAnonymous(ctx context.Context, anonymousIDs []string) (int64, error)
	// AttachIdentifier links an identifier (a LINE user id after account
	// linking) to a customer through identity resolution: a customer that
	// held it already is merged as resolution decides. Consents are
	// recorded with it. It returns the customer now holding it.
	AttachIdentifier(ctx context.Context, customerID int64, id identity.Identifier, consents []customer.Consent) (int64, error)
	// AddExternalInquiry adds an inquiry that a channel identifies by
	// externalID once: adding the same (channel, externalID) again returns
	// the first one's id and false.
	AddExternalInquiry(ctx context.Context, inq customer.Inquiry, externalID string) (int64, bool, error)

	// PutShopifyOrder remembers a Shopify order id's name and customer id.
	PutShopifyOrder(ctx context.Context, shop, orderID, name, customerID string) error
	// ShopifyOrder returns the name and customer id of a Shopify order id.
	ShopifyOrder(ctx context.Context, shop, orderID string) (name, customerID string, ok bool, err error)

	// AddPrivacyRequest records a request once per (source, ref) and
	// returns its id.
	AddPrivacyRequest(ctx context.Context, p PrivacyRequest) (int64, error)
	PrivacyRequests(ctx context.Context, status string, limit int) ([]PrivacyRequest, error)

	// CreateLinkNonce stores a LINE account-link nonce for a customer.
	CreateLinkNonce(ctx context.Context, nonce string, customerID int64, expires time.Time) error
	// UseLinkNonce consumes a nonce for a LINE user and returns the customer
	// it was issued for. Using it again for the same user returns the same
	// customer (a redelivered webhook); for another user it is a conflict.
	UseLinkNonce(ctx context.Context, nonce, lineUserID string) (int64, error)
}

// Inbox row statuses.
const (
	InboxPending   = "pending"
	InboxDone      = "done"
	InboxDead      = "dead"
	InboxDiscarded = "discarded"
)

// InboxItem is one accepted request in the ingest inbox.
type InboxItem struct {
	ID        int64  `json:"id"`
	Kind      string `json:"kind"`
	Source    string `json:"source"`
	Topic     string `json:"topic"`
	DedupeKey string `json:"dedupe_key,omitempty"`
	Body      []byte `json:"-"`
	Items     int    `json:"items"`
	// Priority orders claims: lower first (webhooks 0, event batches 1), so
	// that a purchase webhook does not wait behind a backlog of page views.
	Priority    int        `json:"priority"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error,omitempty"`
	ReceivedAt  time.Time  `json:"received_at"`
	AvailableAt time.Time  `json:"available_at"`
	ProcessedAt *time.Time `json:"processed_at,omitempty"`
}

// InboxStatus sums up the inbox for monitoring.
type InboxStatus struct {
	Pending      int64 `json:"pending"`       // requests waiting
	PendingItems int64 `json:"pending_items"` // messages in them
	Dead         int64 `json:"dead"`
	Done         int64 `json:"done"` // kept until pruned
	// OldestPendingAt is when the oldest waiting request arrived.
	OldestPendingAt *time.Time `json:"oldest_pending_at,omitempty"`
	LastProcessedAt *time.Time `json:"last_processed_at,omitempty"`
}

// PrivacyRequest is a platform's request to export or erase a person's data.
type PrivacyRequest struct {
	ID          int64                 `json:"id"`
	Source      string                `json:"source"` // shopify …
	Ref         string                `json:"ref"`    // the platform's id of the request; one request per (source, ref)
	Kind        string                `json:"kind"`   // export | erase | shop_erase
	Shop        string                `json:"shop,omitempty"`
	Identifiers []identity.Identifier `json:"identifiers"`
	Payload     json.RawMessage       `json:"payload"`
	Status      string                `json:"status"`
	Message     string                `json:"message,omitempty"`
	CreatedAt   time.Time             `json:"created_at"`
	HandledAt   *time.Time            `json:"handled_at,omitempty"`
	// Set once the request was answered (privacy.go): the person it was
	// about, why (erasure), and who acted.
	CustomerID int64  `json:"customer_id,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Actor      string `json:"actor,omitempty"`
}

// EnqueueInbox writes accepted requests.
func (db *DB) EnqueueInbox(ctx context.Context, items []InboxItem) ([]int64, error) {
	ids := make([]int64, len(items))
	now := ms(db.Clock.Now())
	err := db.inTx(ctx, func(tx *Tx) error {
		for i, it := range items {
			var dedupe any
			if it.DedupeKey != "" {
				dedupe = it.DedupeKey
			}
			recv := now
			if !it.ReceivedAt.IsZero() {
				recv = ms(it.ReceivedAt)
			}
			err := tx.QueryRowContext(ctx, `INSERT INTO ingest_inbox (kind, source, topic, dedupe_key, body, items, priority, available_at, received_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, source, dedupe_key) DO NOTHING RETURNING id`,
				it.Kind, it.Source, it.Topic, dedupe, string(it.Body), max(it.Items, 1), it.Priority, recv, recv).Scan(&ids[i])
			if err != nil && !isNoRows(err) {
				return fmt.Errorf("enqueue: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

const inboxCols = `id, kind, source, topic, dedupe_key, body, items, priority, status, attempts, last_error, received_at, available_at, processed_at`

func scanInbox(r rowScanner) (InboxItem, error) {
	var it InboxItem
	var dedupe sql.NullString
	var body string
	var recv, avail int64
	var done sql.NullInt64
	err := r.Scan(&it.ID, &it.Kind, &it.Source, &it.Topic, &dedupe, &body, &it.Items, &it.Priority, &it.Status, &it.Attempts, &it.LastError, &recv, &avail, &done)
	it.DedupeKey, it.Body = dedupe.String, []byte(body)
	it.ReceivedAt, it.AvailableAt, it.ProcessedAt = fromMS(recv), fromMS(avail), fromNullMS(done)
	return it, err
}

// ClaimInbox leases pending rows to a worker.
func (db *DB) ClaimInbox(ctx context.Context, worker string, limit int, lease time.Duration) ([]InboxItem, error) {
	now := db.Clock.Now()
	var out []InboxItem
	err := db.inTx(ctx, func(tx *Tx) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE ingest_inbox SET available_at = $1, locked_by = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM ingest_inbox WHERE status = 'pending' AND available_at <= $3 ORDER BY priority, id LIMIT $4`+db.Dialect.SkipLocked()+`)
			RETURNING `+inboxCols, ms(now.Add(lease)), worker, ms(now), limit)
		if err != nil {
			return fmt.Errorf("claim inbox: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanInbox(rows)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, err
}

// CompleteInbox marks rows done.
func (db *DB) CompleteInbox(ctx context.Context, ids []int64) error {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	now := ms(db.Clock.Now())
	return db.inTx(ctx, func(tx *Tx) error {
		return db.chunk(len(args), 1, func(lo, hi int) error {
			_, err := tx.ExecContext(ctx, `UPDATE ingest_inbox SET status = 'done', processed_at = $1, last_error = ''
				WHERE status = 'pending' AND id IN (`+list(hi-lo, 2)+`)`, append([]any{now}, args[lo:hi]...)...)
			return err
		})
	})
}

// FailInbox records a failed attempt.
func (db *DB) FailInbox(ctx context.Context, id int64, message string, retryAt time.Time, dead bool) error {
	status := InboxPending
	if dead {
		status = InboxDead
	}
	_, err := db.Write.ExecContext(ctx, `UPDATE ingest_inbox SET status = $1, available_at = $2, last_error = $3, processed_at = $4
		WHERE id = $5 AND status = 'pending'`, status, ms(retryAt), truncateText(message, 2000), ms(db.Clock.Now()), id)
	return err
}

// InboxStatus sums up the inbox.
func (db *DB) InboxStatus(ctx context.Context) (InboxStatus, error) {
	var s InboxStatus
	var oldest, last sql.NullInt64
	err := db.Read.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM ingest_inbox WHERE status = 'pending'),
		(SELECT coalesce(sum(items), 0) FROM ingest_inbox WHERE status = 'pending'),
		(SELECT count(*) FROM ingest_inbox WHERE status = 'dead'),
		(SELECT count(*) FROM ingest_inbox WHERE status = 'done'),
		(SELECT min(received_at) FROM ingest_inbox WHERE status = 'pending'),
		(SELECT max(processed_at) FROM ingest_inbox WHERE status = 'done')`).
		Scan(&s.Pending, &s.PendingItems, &s.Dead, &s.Done, &oldest, &last)
	s.OldestPendingAt, s.LastProcessedAt = fromNullMS(oldest), fromNullMS(last)
	return s, err
}

// InboxItems lists rows by status, newest first.
func (db *DB) InboxItems(ctx context.Context, status string, limit, offset int) ([]InboxItem, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	rows, err := db.Read.QueryContext(ctx, `SELECT `+inboxCols+` FROM ingest_inbox WHERE status = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`,
		status, limit, max(offset, 0))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []InboxItem{}
	for rows.Next() {
		it, err := scanInbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// InboxItem returns one inbox row.
func (db *DB) InboxItem(ctx context.Context, id int64) (*InboxItem, error) {
	it, err := scanInbox(db.Read.QueryRowContext(ctx, `SELECT `+inboxCols+` FROM ingest_inbox WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "inbox item", id)
	}
	return &it, nil
}

// RetryInbox queues a dead or discarded row again.
func (db *DB) RetryInbox(ctx context.Context, id int64) error {
	return db.moveInbox(ctx, id, `status = 'pending', attempts = 0, last_error = '', processed_at = NULL, available_at = $2`,
		[]string{InboxDead, InboxDiscarded}, "retried")
}

// DiscardInbox gives up on a dead row.
func (db *DB) DiscardInbox(ctx context.Context, id int64) error {
	return db.moveInbox(ctx, id, `status = 'discarded', available_at = $2`, []string{InboxDead}, "discarded")
}

func (db *DB) moveInbox(ctx context.Context, id int64, set string, from []string, verb string) error {
	return db.inTx(ctx, func(tx *Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM ingest_inbox WHERE id = $1`, id).Scan(&status); err != nil {
			return notFound(err, "inbox item", id)
		}
		ok := false
		for _, f := range from {
			ok = ok || f == status
		}
		if !ok {
			return errs.Errorf(errs.Conflict, "inbox item %d is %s; only %s items can be %s", id, status, strings.Join(from, " or "), verb)
		}
		_, err := tx.ExecContext(ctx, `UPDATE ingest_inbox SET `+set+` WHERE id = $1`, id, ms(db.Clock.Now()))
		return err
	})
}

// PruneInbox deletes finished rows received before t.
func (db *DB) PruneInbox(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.Write.ExecContext(ctx, `DELETE FROM ingest_inbox WHERE status IN ('done', 'discarded') AND received_at < $1`, ms(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// StitchAnonymous files anonymous events under the customers now holding
// their anonymous ids.
func (db *DB) StitchAnonymous(ctx context.Context, anonymousIDs []string) (int64, error) {
	var n int64
	args := make([]any, 0, len(anonymousIDs))
	seen := map[string]bool{}
	for _, a := range anonymousIDs {
		if a != "" && !seen[a] {
			seen[a] = true
			args = append(args, a)
		}
	}
	if len(args) == 0 {
		return 0, nil
	}
	// Three simple, index-driven steps rather than one UPDATE … FROM join,
	// whose plan goes quadratic on PostgreSQL while statistics lag behind a
	// fast-growing events table: find the waiting events through the small
	// partial index events_unstitched (usually none), look their anonymous
	// ids up by primary key, and update the events by id.
	err := db.inTx(ctx, func(tx *Tx) error {
		n = 0
		waiting := map[string][]any{} // anonymous id → event ids
		err := db.chunk(len(args), 1, func(lo, hi int) error {
			rows, err := tx.QueryContext(ctx, `SELECT id, anonymous_id FROM events
				WHERE customer_id IS NULL AND anonymous_id <> '' AND anonymous_id IN (`+list(hi-lo, 1)+`)`, args[lo:hi]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				var anon string
				if err := rows.Scan(&id, &anon); err != nil {
					return err
				}
				waiting[anon] = append(waiting[anon], id)
			}
			return rows.Err()
		})
		if err != nil || len(waiting) == 0 {
			return err
		}
		anons := make([]any, 0, len(waiting))
		for a := range waiting {
			anons = append(anons, a)
		}
		type holder struct{ customer, origin int64 }
		held := map[string]holder{}
		err = db.chunk(len(anons), 1, func(lo, hi int) error {
			rows, err := tx.QueryContext(ctx, `SELECT value, customer_id, origin_customer_id FROM identities
				WHERE kind = 'anonymous' AND source = '' AND value IN (`+list(hi-lo, 1)+`)`, anons[lo:hi]...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var v string
				var h holder
				if err := rows.Scan(&v, &h.customer, &h.origin); err != nil {
					return err
				}
				held[v] = h
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		var stitched []int64
		for a, h := range held {
			ids := waiting[a]
			stitched = append(stitched, h.customer)
			err := db.chunk(len(ids), 1, func(lo, hi int) error {
				res, err := tx.ExecContext(ctx, `UPDATE events SET customer_id = $1, origin_customer_id = $2
					WHERE customer_id IS NULL AND id IN (`+list(hi-lo, 3)+`)`, append([]any{h.customer, h.origin}, ids[lo:hi]...)...)
				if err != nil {
					return fmt.Errorf("stitch anonymous events: %w", err)
				}
				m, _ := res.RowsAffected()
				n += m
				return nil
			})
			if err != nil {
				return err
			}
		}
		// Segments counting events see the customers' newly known ones.
		return db.markChanged(ctx, tx, stitched, db.Clock.Now())
	})
	if err == nil && n > 0 {
		db.notifyChanged()
	}
	return n, err
}

// AttachIdentifier links id to a customer through identity resolution.
func (db *DB) AttachIdentifier(ctx context.Context, customerID int64, id identity.Identifier, consents []customer.Consent) (int64, error) {
	var target int64
	var r *resolver
	err := db.inTx(ctx, func(tx *Tx) error {
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		cid, err := canonical(ctx, tx, customerID)
		if err != nil {
			return err
		}
		// The customer is named by one of its own strong identifiers, so
		// that resolution sees the link from both sides.
		rows, err := tx.QueryContext(ctx, `SELECT kind, source, value FROM identities WHERE customer_id = $1 AND weak = $2`, cid, false)
		if err != nil {
			return err
		}
		var anchors []identity.Identifier
		for rows.Next() {
			var a identity.Identifier
			var kind string
			if err := rows.Scan(&kind, &a.Source, &a.Value); err != nil {
				rows.Close()
				return err
			}
			a.Kind = identity.Kind(kind)
			anchors = append(anchors, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(anchors) == 0 {
			return errs.Errorf(errs.Conflict, "customer %d has no identifier to link %s to", cid, id.Kind)
		}
		sort.Slice(anchors, func(i, j int) bool { return kindRank(anchors[i].Kind) < kindRank(anchors[j].Kind) })
		rec := customer.Record{Identifiers: []identity.Identifier{anchors[0], id}, Consents: consents}
		if err := r.prefetch(ctx, []*customer.Record{&rec}); err != nil {
			return err
		}
		if target, _, err = r.resolve(ctx, &rec, 1); err != nil {
			return err
		}
		if err := r.finish(ctx); err != nil {
			return err
		}
		target = r.current(target)
		// A new identifier or consent can change segments (consent, LINE).
		return db.markChanged(ctx, tx, []int64{target}, r.now)
	})
	if err != nil {
		return 0, err
	}
	r.committed()
	db.notifyChanged()
	return target, nil
}

func kindRank(k identity.Kind) int {
	for i, x := range identity.Kinds {
		if x == k {
			return i
		}
	}
	return len(identity.Kinds)
}

// AddExternalInquiry adds a channel's inquiry once per external id.
func (db *DB) AddExternalInquiry(ctx context.Context, inq customer.Inquiry, externalID string) (int64, bool, error) {
	if externalID == "" {
		return 0, false, errs.FieldErrorf("external_id", "required")
	}
	var id int64
	created := false
	err := db.inTx(ctx, func(tx *Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM inquiries WHERE channel = $1 AND external_id = $2`, inq.Channel, externalID).Scan(&id)
		if err == nil {
			return nil
		}
		if !isNoRows(err) {
			return err
		}
		created = true
		id, err = db.insertInquiry(ctx, tx, inq, externalID)
		return err
	})
	return id, created, err
}

// PutShopifyOrder remembers a Shopify order id.
func (db *DB) PutShopifyOrder(ctx context.Context, shop, orderID, name, customerID string) error {
	_, err := db.Write.ExecContext(ctx, `INSERT INTO shopify_orders (shop, order_id, name, customer_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (shop, order_id) DO UPDATE SET name = excluded.name, customer_id = excluded.customer_id`, shop, orderID, name, customerID)
	return err
}

// ShopifyOrder looks a Shopify order id up.
func (db *DB) ShopifyOrder(ctx context.Context, shop, orderID string) (string, string, bool, error) {
	var name, cust string
	err := db.Read.QueryRowContext(ctx, `SELECT name, customer_id FROM shopify_orders WHERE shop = $1 AND order_id = $2`, shop, orderID).Scan(&name, &cust)
	if isNoRows(err) {
		return "", "", false, nil
	}
	return name, cust, err == nil, err
}

// AddPrivacyRequest records a privacy request.
func (db *DB) AddPrivacyRequest(ctx context.Context, p PrivacyRequest) (int64, error) {
	ids, err := json.Marshal(p.Identifiers)
	if err != nil {
		return 0, err
	}
	if p.Status == "" {
		p.Status = "pending"
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage(`{}`)
	}
	if p.Ref == "" {
		return 0, errs.FieldErrorf("ref", "a privacy request needs the platform's id for it")
	}
	var id int64
	err = db.Write.QueryRowContext(ctx, `INSERT INTO privacy_requests (source, ref, kind, shop, identifiers, payload, status, message, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (source, ref) DO NOTHING RETURNING id`,
		p.Source, p.Ref, p.Kind, p.Shop, string(ids), string(p.Payload), p.Status, p.Message, ms(db.Clock.Now())).Scan(&id)
	if isNoRows(err) { // recorded before: a redelivery
		err = db.Read.QueryRowContext(ctx, `SELECT id FROM privacy_requests WHERE source = $1 AND ref = $2`, p.Source, p.Ref).Scan(&id)
	}
	return id, err
}

// PrivacyRequests lists privacy requests (all statuses when status is
// empty), newest first.
func (db *DB) PrivacyRequests(ctx context.Context, status string, limit int) ([]PrivacyRequest, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	q := `SELECT ` + privacyRequestCols + ` FROM privacy_requests`
	args := []any{}
	if status != "" {
		q += ` WHERE status = $1`
		args = append(args, status)
	}
	args = append(args, limit)
	rows, err := db.Read.QueryContext(ctx, q+` ORDER BY id DESC LIMIT $`+itoa(len(args)), args...)
	if err != nil {
		return nil, err
	}
	return scanPrivacyRequests(rows)
}

// CreateLinkNonce stores an account-link nonce.
func (db *DB) CreateLinkNonce(ctx context.Context, nonce string, customerID int64, expires time.Time) error {
	return db.inTx(ctx, func(tx *Tx) error {
		cid, err := canonical(ctx, tx, customerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO line_link_nonces (nonce, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			nonce, cid, ms(db.Clock.Now()), ms(expires))
		return err
	})
}

// UseLinkNonce consumes an account-link nonce.
func (db *DB) UseLinkNonce(ctx context.Context, nonce, lineUserID string) (int64, error) {
	var cid int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var expires int64
		var used sql.NullInt64
		var user string
		err := tx.QueryRowContext(ctx, `SELECT customer_id, expires_at, used_at, line_user_id FROM line_link_nonces WHERE nonce = $1`, nonce).
			Scan(&cid, &expires, &used, &user)
		if err != nil {
			return notFound(err, "link nonce", "")
		}
		now := db.Clock.Now()
		switch {
		case used.Valid && user == lineUserID:
			return nil
		case used.Valid:
			return errs.Errorf(errs.Conflict, "the link nonce was already used by another LINE user")
		case now.UnixMilli() > expires:
			return errs.Errorf(errs.Invalid, "the link nonce expired at %s", fromMS(expires).Format(time.RFC3339))
		}
		_, err = tx.ExecContext(ctx, `UPDATE line_link_nonces SET used_at = $1, line_user_id = $2 WHERE nonce = $3`, ms(now), lineUserID, nonce)
		return err
	})
	if err != nil {
		return 0, err
	}
	return canonical(ctx, db.Read, cid)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
