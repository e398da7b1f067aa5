package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/review"
)

// ReviewStore keeps product reviews (レビュー) and computes their reports.
type ReviewStore interface {
	// ImportReviews upserts reviews by (source, external id), filing each
	// under its reviewer when it names one.
	ImportReviews(ctx context.Context, rs []review.Review) (BatchResult, error)
	ListReviews(ctx context.Context, q ReviewQuery) ([]review.Review, int, error)
	ReviewRatings(ctx context.Context, from, to time.Time) (*review.RatingsReport, error)
	ReviewRepeat(ctx context.Context, from, to time.Time) (*review.RepeatReport, error)
}

// ReviewQuery selects reviews for a list, newest first.
type ReviewQuery struct {
	SKU        string
	CustomerID int64
	MaxRating  int // only ratings at most this (finding unhappy customers)
	Limit      int
	Offset     int
}

const reviewCols = `id, source, external_id, coalesce(customer_id, 0), sku, product_name, rating, title, body, reviewer_name, reviewed_at`

func scanReview(r rowScanner) (review.Review, error) {
	var v review.Review
	var at int64
	err := r.Scan(&v.ID, &v.Source, &v.ExternalID, &v.CustomerID, &v.SKU, &v.ProductName, &v.Rating, &v.Title, &v.Body, &v.ReviewerName, &at)
	v.ReviewedAt = fromMS(at)
	return v, err
}

// ImportReviews upserts reviews (see ReviewStore).
func (db *DB) ImportReviews(ctx context.Context, rs []review.Review) (BatchResult, error) {
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			return BatchResult{}, fmt.Errorf("review %s: %w", rs[i].ExternalID, err)
		}
		if rs[i].Source == "" {
			return BatchResult{}, errs.FieldErrorf("source", "review %s names no source", rs[i].ExternalID)
		}
	}
	var res BatchResult
	var r *resolver
	err := db.inTx(ctx, func(tx *Tx) error {
		res = BatchResult{CustomerIDs: make([]int64, len(rs))}
		var err error
		if r, err = db.newResolver(ctx, tx); err != nil {
			return err
		}
		ptrs := make([]*customer.Record, 0, len(rs))
		for i := range rs {
			if rs[i].Reviewer.SeenAt.IsZero() {
				rs[i].Reviewer.SeenAt = rs[i].ReviewedAt
			}
			ptrs = append(ptrs, &rs[i].Reviewer)
		}
		if err := r.prefetch(ctx, ptrs); err != nil {
			return err
		}
		custs, origins := make([]int64, len(rs)), make([]int64, len(rs))
		for i := range rs {
			if custs[i], origins[i], err = r.fileActor(ctx, &rs[i].Reviewer, len(rs)-i); err != nil {
				return fmt.Errorf("review %s: %w", rs[i].ExternalID, err)
			}
		}
		if err := r.finish(ctx); err != nil {
			return err
		}
		type old struct {
			id, hash, customer int64
		}
		existing := map[string]old{}
		for i := range rs {
			var o old
			var cust sql.NullInt64
			err := tx.queryRowCached(ctx, db, `SELECT id, content_hash, customer_id FROM reviews WHERE source = $1 AND external_id = $2`,
				rs[i].Source, rs[i].ExternalID).Scan(&o.id, &o.hash, &cust)
			switch {
			case err == nil:
				o.customer = cust.Int64
				existing[rs[i].Source+"\x00"+rs[i].ExternalID] = o
			case !isNoRows(err):
				return err
			}
		}
		now := ms(db.Clock.Now())
		for i := range rs {
			v := &rs[i]
			var cust, origin any
			if custs[i] != 0 {
				cust, origin = r.current(custs[i]), origins[i]
				res.CustomerIDs[i] = r.current(custs[i])
			}
			key := v.Source + "\x00" + v.ExternalID
			h := v.Hash()
			if o, ok := existing[key]; ok {
				if o.hash == h && (custs[i] == 0 || o.customer == r.current(custs[i])) {
					res.Unchanged++
					continue
				}
				if custs[i] == 0 { // an update that names no reviewer keeps the one filed
					cust, origin = nil, nil
					if _, err := tx.execCachedArgs(ctx, db, `UPDATE reviews SET sku = $1, product_name = $2, rating = $3, title = $4, body = $5,
						reviewer_name = $6, reviewed_at = $7, content_hash = $8, updated_at = $9 WHERE id = $10`,
						v.SKU, v.ProductName, v.Rating, v.Title, v.Body, v.ReviewerName, ms(v.ReviewedAt), h, now, o.id); err != nil {
						return err
					}
				} else if _, err := tx.execCachedArgs(ctx, db, `UPDATE reviews SET sku = $1, product_name = $2, rating = $3, title = $4, body = $5,
					reviewer_name = $6, reviewed_at = $7, content_hash = $8, updated_at = $9, customer_id = $10, origin_customer_id = $11 WHERE id = $12`,
					v.SKU, v.ProductName, v.Rating, v.Title, v.Body, v.ReviewerName, ms(v.ReviewedAt), h, now, cust, origin, o.id); err != nil {
					return err
				}
				v.ID = o.id
				res.Updated++
				continue
			}
			if err := tx.queryRowCached(ctx, db, `INSERT INTO reviews (source, external_id, customer_id, origin_customer_id, sku, product_name, rating,
				title, body, reviewer_name, reviewed_at, content_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
				RETURNING id`, v.Source, v.ExternalID, cust, origin, v.SKU, v.ProductName, v.Rating, v.Title, v.Body, v.ReviewerName,
				ms(v.ReviewedAt), h, now).Scan(&v.ID); err != nil {
				return fmt.Errorf("review %s: %w", v.ExternalID, err)
			}
			existing[key] = old{id: v.ID, hash: h, customer: res.CustomerIDs[i]}
			res.Inserted++
		}
		res.NewCustomers, res.Merges, res.Candidates, res.Suppressed = r.result.NewCustomers, r.result.Merges, r.result.Candidates, r.result.Suppressed
		if res.Inserted+res.Updated == 0 {
			return nil
		}
		return db.markChanged(ctx, tx, res.CustomerIDs, db.Clock.Now())
	})
	if err != nil {
		return BatchResult{}, err
	}
	r.committed()
	if res.Inserted+res.Updated > 0 {
		db.notifyChanged()
	}
	return res, nil
}

// fileActor files a record that may only be recognised, not created: with
// a strong identifier it is resolved (creating the customer if new); with
// only weak ones (a masked mall address) it is matched to whoever holds
// them; with none it names no one (0, 0).
func (r *resolver) fileActor(ctx context.Context, rec *customer.Record, remaining int) (int64, int64, error) {
	strong := false
	for _, id := range rec.Identifiers {
		strong = strong || !id.Weak
	}
	if strong {
		return r.resolve(ctx, rec, remaining)
	}
	for _, id := range rec.Identifiers {
		if m := r.known[id.Key()]; m != nil {
			return m.CustomerID, m.OriginCustomerID, nil
		}
	}
	return 0, 0, nil
}

// ReviewURL fills the review page template (setting reviews.request_url)
// for a product and order; "" when no template is set.
func (db *DB) ReviewURL(ctx context.Context, sku, orderRef string) (string, error) {
	tmpl, ok, err := db.Setting(ctx, review.SettingRequestURL)
	if err != nil || !ok || strings.TrimSpace(tmpl) == "" {
		return "", err
	}
	return review.RequestURL(strings.TrimSpace(tmpl), sku, orderRef)
}

// ListReviews lists reviews, newest first.
func (db *DB) ListReviews(ctx context.Context, q ReviewQuery) ([]review.Review, int, error) {
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	conds := []string{"1 = 1"}
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + itoa(len(args)) }
	if q.SKU != "" {
		conds = append(conds, "sku = "+arg(q.SKU))
	}
	if q.CustomerID != 0 {
		cid, err := canonical(ctx, db.Read, q.CustomerID)
		if err != nil {
			return nil, 0, err
		}
		conds = append(conds, "customer_id = "+arg(cid))
	}
	if q.MaxRating != 0 {
		conds = append(conds, "rating <= "+arg(q.MaxRating))
	}
	where := strings.Join(conds, " AND ")
	var total int
	if err := db.Read.QueryRowContext(ctx, `SELECT count(*) FROM reviews WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	lim, off := arg(limit), arg(max(q.Offset, 0))
	rows, err := db.Read.QueryContext(ctx, `SELECT `+reviewCols+` FROM reviews WHERE `+where+` ORDER BY reviewed_at DESC, id DESC LIMIT `+lim+` OFFSET `+off, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	out := []review.Review{}
	for rows.Next() {
		v, err := scanReview(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}

// ReviewRatings is the average rating per product of reviews written in
// [from, to) (zero times: unbounded).
func (db *DB) ReviewRatings(ctx context.Context, from, to time.Time) (*review.RatingsReport, error) {
	where, args := subFilter(from, to, "reviewed_at", "", "")
	rows, err := db.Read.QueryContext(ctx, `SELECT sku, max(product_name), rating, count(*) FROM reviews WHERE `+where+`
		GROUP BY sku, rating ORDER BY sku, rating`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rep := &review.RatingsReport{From: review.DateLabel(from), To: review.DateLabel(to.Add(-time.Millisecond))}
	if to.IsZero() {
		rep.To = ""
	}
	for rows.Next() {
		var sku, name string
		var rating int
		var n int64
		if err := rows.Scan(&sku, &name, &rating, &n); err != nil {
			return nil, err
		}
		if len(rep.Products) == 0 || rep.Products[len(rep.Products)-1].SKU != sku {
			rep.Products = append(rep.Products, review.ProductRating{SKU: sku, ProductName: name})
		}
		p := &rep.Products[len(rep.Products)-1]
		p.Distribution[rating-1] += n
		if name != "" {
			p.ProductName = name
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Distinct reviewers per product (a customer may rate it more than once).
	rows2, err := db.Read.QueryContext(ctx, `SELECT sku, count(DISTINCT customer_id) FROM reviews WHERE `+where+` GROUP BY sku`, args...)
	if err != nil {
		return nil, err
	}
	defer rows2.Close()
	bySKU := map[string]int64{}
	for rows2.Next() {
		var sku string
		var n int64
		if err := rows2.Scan(&sku, &n); err != nil {
			return nil, err
		}
		bySKU[sku] = n
	}
	for i := range rep.Products {
		rep.Products[i].Reviewers = bySKU[rep.Products[i].SKU]
	}
	rep.Finish()
	return rep, rows2.Err()
}

// ReviewRepeat compares reviewers with non-reviewers among customers whose
// first paid order falls in [from, to).
func (db *DB) ReviewRepeat(ctx context.Context, from, to time.Time) (*review.RepeatReport, error) {
	if to.IsZero() {
		to = db.Clock.Now()
	}
	if from.IsZero() {
		from = to.AddDate(-1, 0, 0)
	}
	if !from.Before(to) {
		return nil, errs.FieldErrorf("from", "must be before to")
	}
	rep := &review.RepeatReport{From: review.DateLabel(from), To: review.DateLabel(to.Add(-time.Millisecond))}
	rows, err := db.Read.QueryContext(ctx, `SELECT CASE WHEN r.first_review IS NULL THEN 0 ELSE 1 END, count(*),
		sum(CASE WHEN c.order_count >= 2 THEN 1 ELSE 0 END), coalesce(sum(c.order_count), 0), coalesce(sum(c.total_spent), 0),
		sum(CASE WHEN r.first_review IS NOT NULL AND c.last_order_at > r.first_review THEN 1 ELSE 0 END)
		FROM customers c LEFT JOIN (SELECT customer_id, min(reviewed_at) AS first_review FROM reviews WHERE customer_id IS NOT NULL GROUP BY customer_id) r
		  ON r.customer_id = c.id
		WHERE c.status = 'active' AND c.first_order_at >= $1 AND c.first_order_at < $2
		GROUP BY CASE WHEN r.first_review IS NULL THEN 0 ELSE 1 END`, ms(from), ms(to))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var reviewer int
		var g review.RepeatGroup
		var orders, spent, reordered int64
		if err := rows.Scan(&reviewer, &g.Customers, &g.Repeaters, &orders, &spent, &reordered); err != nil {
			return nil, err
		}
		g.Finish(orders, spent)
		if reviewer == 1 {
			rep.Reviewers = g
			if g.Customers > 0 {
				rep.ReorderedAfterReview = math.Round(float64(reordered)/float64(g.Customers)*10000) / 10000
			}
		} else {
			rep.NonReviewers = g
		}
	}
	if rep.NonReviewers.RepeatRate > 0 {
		rep.Lift = math.Round(rep.Reviewers.RepeatRate/rep.NonReviewers.RepeatRate*100) / 100
	}
	return rep, rows.Err()
}
