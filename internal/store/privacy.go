package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
)

// PrivacyStore answers data subject requests (APPI 開示 and 消去): export
// everything held on a person, erase it, and keep erased identifiers from
// silently recreating the person (suppression, consulted by resolve.go).
type PrivacyStore interface {
	PersonalData(ctx context.Context, customerID int64) (*PersonalData, error)
	EraseCustomer(ctx context.Context, customerID int64, req PrivacyRequest) (*Erasure, error)
	// RecordPrivacyRequest stores a request answered by staff (req.ID 0) or
	// completes a platform's recorded request (req.ID set), and audits it.
	RecordPrivacyRequest(ctx context.Context, req PrivacyRequest) (int64, error)
	SetPrivacyRequestStatus(ctx context.Context, id int64, status, message string) error
	CustomerPrivacyRequests(ctx context.Context, customerID int64) ([]PrivacyRequest, error)
	CustomerByIdentifier(ctx context.Context, id identity.Identifier) (int64, error)
}

// PersonalData is everything stored about one person: every profile merged
// into them, their identifiers, and every row of every customer table
// (store.CustomerTables, so tables added by later features are included),
// with order lines and merge history.
type PersonalData struct {
	CustomerID int64               `json:"customer_id"`
	ExportedAt time.Time           `json:"exported_at"`
	Profiles   []customer.Customer `json:"profiles"`
	// Tables maps a table name to its rows (column → value); columns ending
	// in _at hold times (RFC 3339, UTC).
	Tables          map[string][]map[string]any `json:"tables"`
	OrderLines      []map[string]any            `json:"order_lines"`
	Merges          []map[string]any            `json:"merges"`
	PrivacyRequests []PrivacyRequest            `json:"privacy_requests"`
}

// Erasure reports what EraseCustomer did.
type Erasure struct {
	RequestID  int64            `json:"request_id"`
	CustomerID int64            `json:"customer_id"`
	Profiles   []int64          `json:"profiles"`   // the person's customer rows, now empty
	Suppressed int              `json:"suppressed"` // identifiers added to the suppression list
	Deleted    map[string]int64 `json:"deleted"`    // rows deleted per table
	Anonymised map[string]int64 `json:"anonymised"` // rows kept with personal columns cleared
}

// ErasePolicy says what erasure does to one customer table's rows. The
// default (zero) policy deletes them; Keep keeps them (facts that reports
// count, such as orders) after setting the Clear columns to the given SQL
// literals.
type ErasePolicy struct {
	Keep  bool
	Clear map[string]string // column → SQL literal, e.g. "properties": "'{}'"
}

// erasePolicies holds the policies of tables that are not simply deleted.
var erasePolicies = map[string]ErasePolicy{
	"orders":   {Keep: true},
	"events":   {Keep: true, Clear: map[string]string{"anonymous_id": "''", "properties": "'{}'"}},
	"messages": {Keep: true, Clear: map[string]string{"subject": "''"}},
	// Opens and clicks stay counted in campaign reports; the link and the
	// provider's detail (which may quote the address) go.
	"message_events": {Keep: true, Clear: map[string]string{"url": "''", "detail": "''"}},
	// Subscription contracts and their history stay counted in retention,
	// cancellation and MRR reports; the customer's own words go. Reviews
	// keep their rating (product averages) without their text; survey
	// responses and choices stay counted in results, free text goes.
	// Inquiries, with their tags and replies, are deleted.
	"subscriptions":        {Keep: true, Clear: map[string]string{"cancel_reason": "''", "risk_reasons": "'[]'"}},
	"subscription_changes": {Keep: true, Clear: map[string]string{"reason": "''"}},
	"reviews":              {Keep: true, Clear: map[string]string{"title": "''", "body": "''", "reviewer_name": "''"}},
	"survey_responses":     {Keep: true},
	"survey_answers":       {Keep: true, Clear: map[string]string{"text": "''"}},
}

// RegisterErasePolicy sets how erasure treats a customer table registered
// with RegisterCustomerTable. Tables without a policy have their rows of
// the erased person deleted. Call it at start-up.
func RegisterErasePolicy(table string, p ErasePolicy) { erasePolicies[table] = p }

// ErasePolicyOf returns a table's erase policy.
func ErasePolicyOf(table string) ErasePolicy { return erasePolicies[table] }

// cluster returns the person holding id and every profile merged into them.
func cluster(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id int64) ([]int64, error) {
	rows, err := q.QueryContext(ctx, `WITH RECURSIVE sub(id) AS (SELECT CAST($1 AS BIGINT) UNION ALL
		SELECT c.id FROM customers c JOIN sub ON c.merged_into = sub.id) SELECT id FROM sub ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// person returns the person id names (following merges) and the ids of
// every profile merged into them, the person first.
func (db *DB) person(ctx context.Context, id int64) (int64, []int64, error) {
	cid, err := canonical(ctx, db.Read, id)
	if err != nil {
		return 0, nil, err
	}
	ids, err := cluster(ctx, db.Read, cid)
	return cid, ids, err
}

func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// PersonalData collects everything held on the person that id names (a
// merged id leads to the person that absorbed it).
func (db *DB) PersonalData(ctx context.Context, customerID int64) (*PersonalData, error) {
	cid, ids, err := db.person(ctx, customerID)
	if err != nil {
		return nil, err
	}
	pd := &PersonalData{CustomerID: cid, ExportedAt: db.Clock.Now(), Tables: map[string][]map[string]any{}}
	args := anys(ids)
	in := list(len(ids), 1)
	crows, err := db.Read.QueryContext(ctx, `SELECT `+customerCols+` FROM customers WHERE id IN (`+in+`) ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	for crows.Next() {
		c, err := scanCustomer(crows)
		if err != nil {
			crows.Close()
			return nil, err
		}
		pd.Profiles = append(pd.Profiles, *c)
	}
	crows.Close()
	for _, t := range customerTables {
		rs, err := db.genericRows(ctx, `SELECT * FROM `+t+` WHERE customer_id = $1 OR origin_customer_id IN (`+list(len(ids), 2)+`)`, append([]any{cid}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", t, err)
		}
		pd.Tables[t] = rs
	}
	if pd.OrderLines, err = db.genericRows(ctx, `SELECT l.* FROM order_lines l JOIN orders o ON o.id = l.order_id
		WHERE o.customer_id = $1 ORDER BY l.order_id, l.line_no`, cid); err != nil {
		return nil, err
	}
	if pd.Merges, err = db.genericRows(ctx, `SELECT * FROM merges WHERE winner_id IN (`+in+`) OR loser_id IN (`+in+`) ORDER BY id`, args...); err != nil {
		return nil, err
	}
	if pd.PrivacyRequests, err = db.privacyRequests(ctx, ids); err != nil {
		return nil, err
	}
	return pd, nil
}

// genericRows reads any rows as column → value maps, with byte strings as
// text and *_at milliseconds as times.
func (db *DB) genericRows(ctx context.Context, q string, args ...any) ([]map[string]any, error) {
	rows, err := db.Read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		m := make(map[string]any, len(cols))
		for i, c := range cols {
			v := vals[i]
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			if strings.HasSuffix(c, "_at") {
				if n, ok := v.(int64); ok {
					v = fromMS(n).Format(time.RFC3339Nano)
				}
			}
			m[c] = v
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RecordPrivacyRequest stores a request (an export, or one handled
// elsewhere) and returns its id.
func (db *DB) RecordPrivacyRequest(ctx context.Context, req PrivacyRequest) (int64, error) {
	var id int64
	err := db.inTx(ctx, func(tx *Tx) error {
		var err error
		id, err = db.recordPrivacyRequest(ctx, tx, &req)
		return err
	})
	return id, err
}

func (db *DB) recordPrivacyRequest(ctx context.Context, tx *Tx, req *PrivacyRequest) (int64, error) {
	if req.Kind != "export" && req.Kind != "erase" {
		return 0, errs.FieldErrorf("kind", "%q is not export or erase", req.Kind)
	}
	o := OriginFrom(ctx)
	if req.Actor == "" {
		req.Actor = o.Actor
	}
	if req.Source == "" {
		req.Source = o.Source
	}
	if req.Source == "" {
		req.Source = "staff"
	}
	now := ms(db.Clock.Now())
	id := req.ID
	if id != 0 {
		res, err := tx.ExecContext(ctx, `UPDATE privacy_requests SET customer_id = $1, reason = $2, actor = $3, status = 'done', message = $4, handled_at = $5
			WHERE id = $6`, req.CustomerID, req.Reason, req.Actor, req.Message, now, id)
		if err != nil {
			return 0, fmt.Errorf("record privacy request: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, errs.Errorf(errs.NotFound, "privacy request %d not found", id)
		}
	} else {
		ref := make([]byte, 12)
		if _, err := rand.Read(ref); err != nil {
			return 0, err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO privacy_requests (source, ref, kind, identifiers, payload, status, message, created_at, handled_at, customer_id, reason, actor)
			VALUES ($1, $2, $3, '[]', '{}', 'done', $4, $5, $5, $6, $7, $8) RETURNING id`,
			req.Source, hex.EncodeToString(ref), req.Kind, req.Message, now, req.CustomerID, req.Reason, req.Actor).Scan(&id)
		if err != nil {
			return 0, fmt.Errorf("record privacy request: %w", err)
		}
	}
	return id, db.auditTx(ctx, tx, req.Actor, "privacy."+req.Kind, "customer:"+itoa64(req.CustomerID),
		fmt.Sprintf("request %d from %s", id, req.Source))
}

// SetPrivacyRequestStatus records the outcome of a request that needed no
// export or erasure (nobody held, or left to the operator).
func (db *DB) SetPrivacyRequestStatus(ctx context.Context, id int64, status, message string) error {
	var handled any
	if status != "pending" {
		handled = ms(db.Clock.Now())
	}
	res, err := db.Write.ExecContext(ctx, `UPDATE privacy_requests SET status = $1, message = $2, handled_at = $3 WHERE id = $4`, status, message, handled, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.Errorf(errs.NotFound, "privacy request %d not found", id)
	}
	return nil
}

// CustomerPrivacyRequests lists the requests about a person (and the
// profiles merged into them), oldest first.
func (db *DB) CustomerPrivacyRequests(ctx context.Context, customerID int64) ([]PrivacyRequest, error) {
	_, ids, err := db.person(ctx, customerID)
	if err != nil {
		return nil, err
	}
	return db.privacyRequests(ctx, ids)
}

func (db *DB) privacyRequests(ctx context.Context, ids []int64) ([]PrivacyRequest, error) {
	rows, err := db.Read.QueryContext(ctx, `SELECT `+privacyRequestCols+` FROM privacy_requests WHERE customer_id IN (`+list(len(ids), 1)+`) ORDER BY id`, anys(ids)...)
	if err != nil {
		return nil, err
	}
	return scanPrivacyRequests(rows)
}

const privacyRequestCols = `id, source, ref, kind, shop, identifiers, payload, status, message, created_at, handled_at, customer_id, reason, actor`

// scanPrivacyRequests reads rows of privacyRequestCols and closes them.
func scanPrivacyRequests(rows *sql.Rows) ([]PrivacyRequest, error) {
	defer rows.Close()
	out := []PrivacyRequest{}
	for rows.Next() {
		var p PrivacyRequest
		var ids, payload string
		var created int64
		var handled, cust sql.NullInt64
		if err := rows.Scan(&p.ID, &p.Source, &p.Ref, &p.Kind, &p.Shop, &ids, &payload, &p.Status, &p.Message, &created, &handled, &cust, &p.Reason, &p.Actor); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(ids), &p.Identifiers); err != nil {
			return nil, fmt.Errorf("privacy request %d: %w", p.ID, err)
		}
		p.Payload = json.RawMessage(payload)
		p.CreatedAt, p.HandledAt = fromMS(created), fromNullMS(handled)
		p.CustomerID = cust.Int64
		out = append(out, p)
	}
	return out, rows.Err()
}

// CustomerByIdentifier finds the person holding an identifier (for
// requests that name a person by e-mail or a shop's customer id).
func (db *DB) CustomerByIdentifier(ctx context.Context, id identity.Identifier) (int64, error) {
	var cid int64
	err := db.Read.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE kind = $1 AND source = $2 AND value = $3`,
		string(id.Kind), id.Source, id.Value).Scan(&cid)
	if err != nil {
		return 0, notFound(err, "customer with "+string(id.Kind), "identifier")
	}
	return cid, nil
}

// suppressionKeySetting holds the key of the suppression hashes: random per
// installation, so the hashes cannot be matched against another's.
const suppressionKeySetting = "privacy.suppression_key"

// suppressionKey returns the installation's key, creating it inside tx
// when create is set; nil when there is none yet.
func suppressionKey(ctx context.Context, tx *Tx, create bool) ([]byte, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = $1`, suppressionKeySetting).Scan(&v)
	if isNoRows(err) {
		if !create {
			return nil, nil
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		v = hex.EncodeToString(b)
		if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, 0)`, suppressionKeySetting, v); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return hex.DecodeString(v)
}

// suppressionHash is the keyed hash an identifier is suppressed under.
func suppressionHash(key []byte, id identity.Identifier) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id.Key()))
	return hex.EncodeToString(m.Sum(nil))
}

// EraseCustomer erases the personal data of the person customerID names,
// in one transaction:
//   - every profile of the person (merged ones included) is emptied and
//     marked erased; the rows stay so that order facts keep their customer;
//   - the person's identifiers are deleted and their keyed hashes added to
//     the suppression list: later records carrying them are filed under the
//     erased customer, without personal data (see resolve.go);
//   - every customer table's rows are deleted, or kept with personal
//     columns cleared where an ErasePolicy says so (orders, events, messages);
//   - merge history and candidates lose the identifier values and profile
//     snapshots they held;
//   - the request is recorded, audited, and identity_generation bumped.
func (db *DB) EraseCustomer(ctx context.Context, customerID int64, req PrivacyRequest) (*Erasure, error) {
	var out *Erasure
	err := db.inTx(ctx, func(tx *Tx) error {
		if err := db.Dialect.LockResolution(ctx, tx); err != nil {
			return err
		}
		cid, err := canonical(ctx, tx, customerID)
		if err != nil {
			return err
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM customers WHERE id = $1`, cid).Scan(&status); err != nil {
			return err
		}
		if status == string(customer.Erased) {
			return errs.Errorf(errs.Conflict, "customer %d was already erased", cid)
		}
		ids, err := cluster(ctx, tx, cid)
		if err != nil {
			return err
		}
		args := anys(ids)
		in := list(len(ids), 1)
		e := &Erasure{CustomerID: cid, Profiles: ids, Deleted: map[string]int64{}, Anonymised: map[string]int64{}}

		// Identifiers: the stored ones, plus e-mail and phone on the profiles.
		var held []identity.Identifier
		irows, err := tx.QueryContext(ctx, `SELECT kind, source, value FROM identities WHERE customer_id = $1`, cid)
		if err != nil {
			return err
		}
		for irows.Next() {
			var k, s, v string
			if err := irows.Scan(&k, &s, &v); err != nil {
				irows.Close()
				return err
			}
			held = append(held, identity.Identifier{Kind: identity.Kind(k), Source: s, Value: v})
		}
		irows.Close()
		if err := irows.Err(); err != nil {
			return err
		}
		prow, err := tx.QueryContext(ctx, `SELECT email, phone FROM customers WHERE id IN (`+in+`)`, args...)
		if err != nil {
			return err
		}
		for prow.Next() {
			var em, ph string
			if err := prow.Scan(&em, &ph); err != nil {
				prow.Close()
				return err
			}
			if em != "" {
				held = append(held, identity.Identifier{Kind: identity.Email, Value: em})
			}
			if ph != "" {
				held = append(held, identity.Identifier{Kind: identity.Phone, Value: ph})
			}
		}
		prow.Close()

		req.Kind, req.CustomerID = "erase", cid
		if req.Message == "" {
			req.Message = fmt.Sprintf("erased %d profile(s), %d identifier(s)", len(ids), len(held))
		}
		if e.RequestID, err = db.recordPrivacyRequest(ctx, tx, &req); err != nil {
			return err
		}
		key, err := suppressionKey(ctx, tx, true)
		if err != nil {
			return err
		}
		hashes := map[string]bool{}
		for _, id := range held {
			hashes[suppressionHash(key, id)] = true
		}
		sorted := make([]string, 0, len(hashes))
		for h := range hashes {
			sorted = append(sorted, h)
		}
		sort.Strings(sorted)
		now := ms(db.Clock.Now())
		for _, h := range sorted {
			res, err := tx.ExecContext(ctx, `INSERT INTO suppressed_identifiers (hash, customer_id, request_id, created_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (hash) DO NOTHING`, h, cid, e.RequestID, now)
			if err != nil {
				return fmt.Errorf("suppress identifiers: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				e.Suppressed++
			}
		}

		for _, t := range customerTables {
			p := erasePolicies[t]
			where := ` WHERE customer_id = $1 OR origin_customer_id IN (` + list(len(ids), 2) + `)`
			targs := append([]any{cid}, args...)
			if !p.Keep {
				res, err := tx.ExecContext(ctx, `DELETE FROM `+t+where, targs...)
				if err != nil {
					return fmt.Errorf("erase %s: %w", t, err)
				}
				e.Deleted[t], _ = res.RowsAffected()
				continue
			}
			if len(p.Clear) == 0 {
				continue
			}
			cols := make([]string, 0, len(p.Clear))
			for c := range p.Clear {
				cols = append(cols, c)
			}
			sort.Strings(cols)
			set := make([]string, len(cols))
			for i, c := range cols {
				set[i] = c + " = " + p.Clear[c]
			}
			res, err := tx.ExecContext(ctx, `UPDATE `+t+` SET `+strings.Join(set, ", ")+where, targs...)
			if err != nil {
				return fmt.Errorf("anonymise %s: %w", t, err)
			}
			e.Anonymised[t], _ = res.RowsAffected()
		}
		// Anonymous events of the person's browsers that were never linked.
		var anon []any
		for _, id := range held {
			if id.Kind == identity.Anonymous {
				anon = append(anon, id.Value)
			}
		}
		if len(anon) > 0 {
			res, err := tx.ExecContext(ctx, `UPDATE events SET anonymous_id = '', properties = '{}' WHERE customer_id IS NULL AND anonymous_id IN (`+list(len(anon), 1)+`)`, anon...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			e.Anonymised["events"] += n
		}

		blank := make([]string, 0, len(customer.FieldNames()))
		for _, f := range customer.FieldNames() {
			blank = append(blank, f+" = ''")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET `+strings.Join(blank, ", ")+`, attributes = '{}', search_text = '',
			status = 'erased', updated_at = $`+itoa(len(ids)+1)+` WHERE id IN (`+in+`)`, append(args, now)...); err != nil {
			return fmt.Errorf("erase profiles: %w", err)
		}
		// Merged profiles kept the counts they had when merged; now that they
		// are erased rows like the person's, recount all from orders.
		if err := db.refreshAggregates(ctx, tx, args); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE merges SET via_value = '', winner_before = '{}' WHERE winner_id IN (`+in+`) OR loser_id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("erase merge history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE merge_candidates SET via_value = '',
			status = CASE WHEN status = 'pending' THEN 'rejected' ELSE status END,
			decided_by = CASE WHEN status = 'pending' THEN 'erasure' ELSE decided_by END
			WHERE customer_a IN (`+in+`) OR customer_b IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("erase merge candidates: %w", err)
		}
		if err := bumpIdentityGeneration(ctx, tx); err != nil {
			return err
		}
		out = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
