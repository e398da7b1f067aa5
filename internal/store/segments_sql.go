package store

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
)

// condCompiler turns a segment condition into an SQL boolean expression
// over the customers table aliased c. Every value goes in as a parameter;
// only field names chosen from the catalogue become SQL text.
type condCompiler struct {
	db   *DB
	now  time.Time
	day  time.Time // midnight in Asia/Tokyo of now
	args []any
	// windows records, for conditions that change as days pass, which rows
	// may flip between two dates (see timeWindows).
	windows []timeWindow
	// full is set when the condition depends on data that changes outside
	// enishi's change feed (analytics scores, loyalty), so that a date
	// flip must re-check every member and candidate.
	full bool
}

// timeWindow is a column compared with "midnight k days before today":
// when today moves from d0 to d1, exactly the rows whose value lies in
// [d0-k, d1-k) can change their answer.
type timeWindow struct {
	// from is an SQL query "SELECT customer_id FROM … WHERE <extra> AND"
	// completed with "<col> >= $a AND <col> < $b".
	from  string
	col   string
	extra []any
	days  int
	month bool // a birthday month window instead (this_month, next_month)
}

func (db *DB) newCompiler(now time.Time) *condCompiler {
	return &condCompiler{db: db, now: now, day: clock.StartOfDay(now)}
}

// arg adds a parameter and returns its placeholder.
func (cp *condCompiler) arg(v any) string {
	cp.args = append(cp.args, v)
	return "$" + strconv.Itoa(len(cp.args))
}

// dayStart is midnight in Tokyo k days before today, in stored ms.
func (cp *condCompiler) dayStart(k int) int64 { return ms(cp.day.AddDate(0, 0, -k)) }

// compile returns the condition's SQL; the empty condition is TRUE.
func (cp *condCompiler) compile(ctx context.Context, c segment.Condition) (string, error) {
	if c.IsZero() {
		return "1 = 1", nil
	}
	return cp.node(ctx, c)
}

func (cp *condCompiler) node(ctx context.Context, c segment.Condition) (string, error) {
	switch {
	case len(c.All) > 0 || len(c.Any) > 0:
		list, joiner := c.All, " AND "
		if len(c.Any) > 0 {
			list, joiner = c.Any, " OR "
		}
		parts := make([]string, len(list))
		for i, sub := range list {
			s, err := cp.node(ctx, sub)
			if err != nil {
				return "", err
			}
			parts[i] = s
		}
		return "(" + strings.Join(parts, joiner) + ")", nil
	case c.Not != nil:
		s, err := cp.node(ctx, *c.Not)
		if err != nil {
			return "", err
		}
		return "(NOT " + s + ")", nil
	}
	f, ok := segment.Field(c.Field)
	if !ok {
		return "", errs.FieldErrorf("field", "unknown field %q", c.Field)
	}
	if f.Source != segment.Core {
		if err := cp.db.requireSource(ctx, f.Source, f.Name); err != nil {
			return "", err
		}
		cp.full = true
	}
	s, err := cp.leaf(f, c)
	if err != nil {
		return "", err
	}
	// Leaves are never NULL, so NOT is the exact complement.
	return "COALESCE(" + s + ", FALSE)", nil
}

// profileColumns are the text fields stored as columns of customers.
var profileColumns = map[string]bool{
	"last_name": true, "first_name": true, "last_name_kana": true, "first_name_kana": true, "email": true, "phone": true,
	"gender": true, "postal_code": true, "prefecture": true, "city": true, "acq_channel": true, "acq_source": true,
	"acq_medium": true, "acq_campaign": true,
}

// scoreColumns map analytics fields to customer_scores columns.
var scoreColumns = map[string]string{
	"rfm_r": "r", "rfm_f": "f", "rfm_m": "m", "rfm_segment": "segment", "cpm": "cpm", "churn_tier": "churn_tier",
	"p_alive": "p_alive", "clv": "clv", "expected_purchases": "expected_purchases",
}

func (cp *condCompiler) leaf(f *segment.FieldInfo, c segment.Condition) (string, error) {
	switch {
	case profileColumns[f.Name]:
		return cp.text("c."+f.Name, c)
	case f.Name == "attribute":
		return cp.text("COALESCE("+cp.db.Dialect.JSONText("c.attributes", cp.arg(c.Attribute))+", '')", c)
	case f.Name == "created_at" || f.Name == "first_order_at" || f.Name == "last_order_at":
		return cp.date("c."+f.Name, c)
	case f.Name == "order_count" || f.Name == "total_spent":
		return cp.number("c."+f.Name, f, c)
	case f.Name == "aov":
		return cp.number("(CASE WHEN c.order_count > 0 THEN c.total_spent / c.order_count ELSE 0 END)", f, c)
	case f.Name == "days_since_last_order":
		return cp.daysSince("c.last_order_at", "SELECT id FROM customers WHERE", "last_order_at", c)
	case f.Name == "days_since_first_order":
		return cp.daysSince("c.first_order_at", "SELECT id FROM customers WHERE", "first_order_at", c)
	case f.Name == "days_since_signup":
		return cp.daysSince("c.created_at", "SELECT id FROM customers WHERE", "created_at", c)
	case f.Name == "birthday_month":
		return cp.birthdayMonth(c)
	case f.Name == "tag":
		v, _ := segment.TextValue(c.Value)
		q := "EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag = " + cp.arg(strings.TrimSpace(v)) + ")"
		if c.Op == "not_has" {
			q = "NOT " + q
		}
		return q, nil
	case f.Name == "consent":
		latest := "(SELECT cr.granted FROM consent_records cr WHERE cr.customer_id = c.id AND cr.channel = " + cp.arg(c.Channel) +
			" ORDER BY cr.recorded_at DESC, cr.id DESC LIMIT 1)"
		if c.Op == "granted" {
			return "COALESCE(" + latest + ", " + cp.arg(false) + ") = " + cp.arg(true), nil
		}
		return "COALESCE(" + latest + ", " + cp.arg(false) + ") = " + cp.arg(false), nil
	case f.Name == "bought":
		return cp.bought(c)
	case f.Name == "event":
		return cp.event(c)
	case f.Name == "sales_channel":
		return cp.salesChannel(c)
	case scoreColumns[f.Name] != "":
		col := "(SELECT s." + scoreColumns[f.Name] + " FROM customer_scores s WHERE s.customer_id = c.id)"
		if f.Kind == segment.Text {
			return cp.text("COALESCE("+col+", '')", c)
		}
		return cp.number(col, f, c)
	case voiceFields[f.Name]:
		return cp.voice(f, c)
	case f.Name == "rank":
		return cp.text(rankSQL("c.id"), c)
	case f.Name == "points_balance":
		return cp.number("(SELECT COALESCE(sum(p.points), 0) FROM point_entries p WHERE p.customer_id = c.id AND (p.expires_at IS NULL OR p.expires_at > "+
			cp.arg(ms(cp.now))+"))", f, c)
	}
	return "", errs.FieldErrorf("field", "field %s cannot be evaluated", f.Name)
}

func (cp *condCompiler) text(expr string, c segment.Condition) (string, error) {
	switch c.Op {
	case "is_empty":
		return expr + " = ''", nil
	case "is_set":
		return expr + " <> ''", nil
	case "in", "not_in":
		items, _ := segment.Values(c.Value)
		ph := make([]string, len(items))
		for i, it := range items {
			s, _ := segment.TextValue(it)
			ph[i] = cp.arg(s)
		}
		op := " IN ("
		if c.Op == "not_in" {
			op = " NOT IN ("
		}
		return expr + op + strings.Join(ph, ", ") + ")", nil
	}
	v, err := segment.TextValue(c.Value)
	if err != nil {
		return "", errs.FieldErrorf("value", "must be text")
	}
	switch c.Op {
	case "=":
		return expr + " = " + cp.arg(v), nil
	case "!=":
		return expr + " <> " + cp.arg(v), nil
	case "contains":
		return "lower(" + expr + ") LIKE " + cp.arg("%"+likeEscape(strings.ToLower(v))+"%") + ` ESCAPE '\'`, nil
	case "starts_with":
		return "lower(" + expr + ") LIKE " + cp.arg(likeEscape(strings.ToLower(v))+"%") + ` ESCAPE '\'`, nil
	}
	return "", errs.FieldErrorf("op", "%q does not apply to text", c.Op)
}

// numArg reads a number for a field: int64 for whole-number fields.
func numArg(f *segment.FieldInfo, raw json.RawMessage) (any, error) {
	v, err := segment.NumberValue(raw, f.Float)
	if err != nil {
		return nil, errs.FieldErrorf("value", "must be a number")
	}
	if f.Float {
		return v, nil
	}
	return int64(v), nil
}

func (cp *condCompiler) number(expr string, f *segment.FieldInfo, c segment.Condition) (string, error) {
	switch c.Op {
	case "is_empty":
		return expr + " IS NULL", nil
	case "is_set":
		return expr + " IS NOT NULL", nil
	case "between":
		items, _ := segment.Values(c.Value)
		lo, err1 := numArg(f, items[0])
		hi, err2 := numArg(f, items[1])
		if err1 != nil || err2 != nil {
			return "", errs.FieldErrorf("value", "between takes two numbers")
		}
		return "(" + expr + " >= " + cp.arg(lo) + " AND " + expr + " <= " + cp.arg(hi) + ")", nil
	}
	v, err := numArg(f, c.Value)
	if err != nil {
		return "", err
	}
	op := c.Op
	if op == "!=" {
		op = "<>"
	}
	return expr + " " + op + " " + cp.arg(v), nil
}

func (cp *condCompiler) date(col string, c segment.Condition) (string, error) {
	switch c.Op {
	case "is_empty":
		return col + " IS NULL", nil
	case "is_set":
		return col + " IS NOT NULL", nil
	}
	s, _ := segment.TextValue(c.Value)
	d, err := segment.ParseDate(s)
	if err != nil {
		return "", errs.FieldErrorf("value", "%q is not a date YYYY-MM-DD", s)
	}
	start, end := ms(d), ms(d.AddDate(0, 0, 1))
	switch c.Op {
	case "before":
		return col + " < " + cp.arg(start), nil
	case "after":
		return col + " >= " + cp.arg(end), nil
	case "on":
		return "(" + col + " >= " + cp.arg(start) + " AND " + col + " < " + cp.arg(end) + ")", nil
	}
	return "", errs.FieldErrorf("op", "%q does not apply to dates", c.Op)
}

// daysSince compiles "Tokyo calendar days from col to today" against a
// number: days(x) = k exactly when x lies in [today-k, today-k+1).
func (cp *condCompiler) daysSince(col, from, bare string, c segment.Condition) (string, error) {
	switch c.Op {
	case "is_empty":
		return col + " IS NULL", nil
	case "is_set":
		return col + " IS NOT NULL", nil
	}
	num := func(raw json.RawMessage) (int, error) {
		v, err := segment.NumberValue(raw, false)
		if err != nil {
			return 0, errs.FieldErrorf("value", "must be a whole number of days")
		}
		return int(v), nil
	}
	atLeast := func(n int) string { // days >= n
		cp.window(from, bare, n-1)
		return col + " < " + cp.arg(cp.dayStart(n-1))
	}
	atMost := func(n int) string { // days <= n
		cp.window(from, bare, n)
		return col + " >= " + cp.arg(cp.dayStart(n))
	}
	if c.Op == "between" {
		items, _ := segment.Values(c.Value)
		lo, err1 := num(items[0])
		hi, err2 := num(items[1])
		if err1 != nil || err2 != nil {
			return "", errs.FieldErrorf("value", "between takes two whole numbers")
		}
		return "(" + atLeast(lo) + " AND " + atMost(hi) + ")", nil
	}
	n, err := num(c.Value)
	if err != nil {
		return "", err
	}
	switch c.Op {
	case ">=":
		return atLeast(n), nil
	case ">":
		return atLeast(n + 1), nil
	case "<=":
		return atMost(n), nil
	case "<":
		return atMost(n - 1), nil
	case "=":
		return "(" + atLeast(n) + " AND " + atMost(n) + ")", nil
	case "!=":
		return "(" + col + " IS NOT NULL AND NOT (" + atLeast(n) + " AND " + atMost(n) + "))", nil
	}
	return "", errs.FieldErrorf("op", "%q does not apply to days", c.Op)
}

// window records a time window over a customers column or a child table.
func (cp *condCompiler) window(from, col string, days int, extra ...any) {
	cp.windows = append(cp.windows, timeWindow{from: from, col: col, days: days, extra: extra})
}

func (cp *condCompiler) birthdayMonth(c segment.Condition) (string, error) {
	expr := "substr(c.birthday, 6, 2)"
	switch c.Op {
	case "this_month", "next_month":
		m := cp.now.In(clock.Tokyo).Month()
		if c.Op == "next_month" {
			m = m%12 + 1
		}
		cp.windows = append(cp.windows, timeWindow{month: true})
		return expr + " = " + cp.arg(segment.MonthValue(int(m))), nil
	case "in":
		items, _ := segment.Values(c.Value)
		ph := make([]string, len(items))
		for i, it := range items {
			v, _ := segment.NumberValue(it, false)
			ph[i] = cp.arg(segment.MonthValue(int(v)))
		}
		return expr + " IN (" + strings.Join(ph, ", ") + ")", nil
	}
	v, err := segment.NumberValue(c.Value, false)
	if err != nil || v < 1 || v > 12 {
		return "", errs.FieldErrorf("value", "a month is 1 to 12")
	}
	return expr + " = " + cp.arg(segment.MonthValue(int(v))), nil
}

// countCompare compiles "count of rows of sub op n", using EXISTS and NOT
// EXISTS where the comparison allows (the usual "did / did not").
func (cp *condCompiler) countCompare(sub, countExpr string, c segment.Condition) (string, error) {
	op := c.Op
	if op == "" {
		op = ">="
	}
	n := int64(1)
	if op == "between" {
		items, _ := segment.Values(c.Value)
		lo, _ := segment.NumberValue(items[0], false)
		hi, _ := segment.NumberValue(items[1], false)
		cnt := "(SELECT " + countExpr + " " + sub + ")"
		return "(" + cnt + " >= " + cp.arg(int64(lo)) + " AND " + cnt + " <= " + cp.arg(int64(hi)) + ")", nil
	}
	if len(c.Value) > 0 {
		v, err := segment.NumberValue(c.Value, false)
		if err != nil {
			return "", errs.FieldErrorf("value", "must be a whole number")
		}
		n = int64(v)
	}
	switch {
	case (op == ">=" && n == 1) || (op == ">" && n == 0) || (op == "!=" && n == 0):
		return "EXISTS (SELECT 1 " + sub + ")", nil
	case (op == "=" && n == 0) || (op == "<" && n == 1) || (op == "<=" && n == 0):
		return "NOT EXISTS (SELECT 1 " + sub + ")", nil
	}
	if op == "!=" {
		op = "<>"
	}
	return "(SELECT " + countExpr + " " + sub + ") " + op + " " + cp.arg(n), nil
}

func (cp *condCompiler) bought(c segment.Condition) (string, error) {
	var sub string
	var win string
	var extra []any
	switch {
	case c.SKU != "" || c.Category != "":
		col, v := "l.sku", c.SKU
		if c.Category != "" {
			col, v = "l.category", c.Category
		}
		sub = "FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.customer_id = c.id AND o.status = 'paid' AND " + col + " = " + cp.arg(v)
		win = "SELECT o.customer_id FROM orders o JOIN order_lines l ON l.order_id = o.id WHERE o.status = 'paid' AND " + col + " = $1 AND"
		extra = []any{v}
	default:
		sub = "FROM orders o WHERE o.customer_id = c.id AND o.status = 'paid'"
		win = "SELECT o.customer_id FROM orders o WHERE o.status = 'paid' AND"
	}
	if c.WithinDays > 0 {
		sub += " AND o.ordered_at >= " + cp.arg(cp.dayStart(c.WithinDays))
		cp.window(win, "o.ordered_at", c.WithinDays, extra...)
	}
	return cp.countCompare(sub, "count(DISTINCT o.id)", c)
}

func (cp *condCompiler) event(c segment.Condition) (string, error) {
	sub := "FROM events e WHERE e.customer_id = c.id AND e.name = " + cp.arg(c.Event)
	win := "SELECT e.customer_id FROM events e WHERE e.name = $1"
	extra := []any{c.Event}
	if c.SKU != "" {
		sub += " AND e.sku = " + cp.arg(c.SKU)
		win += " AND e.sku = $2"
		extra = append(extra, c.SKU)
	}
	if c.WithinDays > 0 {
		sub += " AND e.occurred_at >= " + cp.arg(cp.dayStart(c.WithinDays))
		cp.window(win+" AND", "e.occurred_at", c.WithinDays, extra...)
	}
	return cp.countCompare(sub, "count(*)", c)
}

func (cp *condCompiler) salesChannel(c segment.Condition) (string, error) {
	items, _ := segment.Values(c.Value)
	ph := make([]string, len(items))
	for i, it := range items {
		s, _ := segment.TextValue(it)
		ph[i] = cp.arg(s)
	}
	sub := "FROM orders o WHERE o.customer_id = c.id AND o.status = 'paid' AND o.channel IN (" + strings.Join(ph, ", ") + ")"
	if c.WithinDays > 0 {
		sub += " AND o.ordered_at >= " + cp.arg(cp.dayStart(c.WithinDays))
		cp.window("SELECT o.customer_id FROM orders o WHERE o.status = 'paid' AND", "o.ordered_at", c.WithinDays)
	}
	if c.Op == "not_in" {
		return "NOT EXISTS (SELECT 1 " + sub + ")", nil
	}
	return "EXISTS (SELECT 1 " + sub + ")", nil
}

// flipCandidates returns a query (and its arguments, numbered from 1)
// listing the customers whose answer may have changed between the Tokyo
// days d0 and d1 (d0 < d1) through the compiled condition's windows, or ""
// when no window applies.
func (cp *condCompiler) flipCandidates(d0, d1 time.Time) (string, []any) {
	var parts []string
	var args []any
	next := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, w := range cp.windows {
		if w.month {
			m0, m1 := d0.In(clock.Tokyo).Month(), d1.In(clock.Tokyo).Month()
			if m0 == m1 && d1.Sub(d0) < 32*24*time.Hour {
				continue
			}
			// Months changed: customers born in either month, and the months
			// after them (next_month), may flip.
			var ph []string
			for _, m := range []time.Month{m0, m0%12 + 1, m1, m1%12 + 1} {
				ph = append(ph, next(segment.MonthValue(int(m))))
			}
			parts = append(parts, "SELECT id FROM customers WHERE substr(birthday, 6, 2) IN ("+strings.Join(ph, ", ")+")")
			continue
		}
		q := renumber(w.from, len(args))
		args = append(args, w.extra...)
		lo := ms(d0.AddDate(0, 0, -w.days))
		hi := ms(d1.AddDate(0, 0, -w.days))
		parts = append(parts, q+" "+w.col+" >= "+next(lo)+" AND "+w.col+" < "+next(hi))
	}
	if len(parts) == 0 {
		return "", nil
	}
	return strings.Join(parts, " UNION "), args
}

// Capability tables: a field whose source is missing from the database is
// refused with a clear message instead of an SQL error.
var sourceTables = map[segment.Source][]string{
	segment.Analytics: {"customer_scores"},
	segment.Loyalty:   {"loyalty_members", "point_entries"},
}

var sourceNames = map[segment.Source]string{
	segment.Analytics: "the analytics scores (RFM, CPM, predictions)",
	segment.Loyalty:   "the loyalty programme (ranks, points)",
}

// tablePresence caches which optional tables exist; they only appear by
// migration, which runs at start-up.
type tablePresence struct {
	mu  sync.Mutex
	has map[string]bool
}

func (db *DB) hasTable(ctx context.Context, name string) (bool, error) {
	db.tables.mu.Lock()
	defer db.tables.mu.Unlock()
	if v, ok := db.tables.has[name]; ok {
		return v, nil
	}
	var n int
	var q string
	if db.Dialect.Name() == "postgres" {
		q = `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
	} else {
		q = `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1`
	}
	if err := db.Read.QueryRowContext(ctx, q, name).Scan(&n); err != nil {
		return false, err
	}
	if db.tables.has == nil {
		db.tables.has = map[string]bool{}
	}
	db.tables.has[name] = n > 0
	return n > 0, nil
}

func (db *DB) requireSource(ctx context.Context, src segment.Source, field string) error {
	for _, t := range sourceTables[src] {
		ok, err := db.hasTable(ctx, t)
		if err != nil {
			return err
		}
		if !ok {
			return errs.FieldErrorf("field", "%s needs %s, which is not available yet in this database", field, sourceNames[src])
		}
	}
	return nil
}

// tokyoDay numbers Tokyo calendar days (0 = 1970-01-01 JST).
func tokyoDay(t time.Time) int64 {
	d := clock.StartOfDay(t)
	_, off := d.Zone()
	return (d.Unix() + int64(off)) / 86400
}

// dayFromNumber is midnight in Tokyo of a day number.
func dayFromNumber(n int64) time.Time {
	return clock.StartOfDay(time.Unix(n*86400, 0).Add(12 * time.Hour))
}

// compileCondition is a shortcut: the SQL and arguments of c at now.
func (db *DB) compileCondition(ctx context.Context, c segment.Condition, now time.Time) (string, []any, *condCompiler, error) {
	cp := db.newCompiler(now)
	q, err := cp.compile(ctx, c)
	if err != nil {
		return "", nil, nil, err
	}
	return q, cp.args, cp, nil
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// renumber shifts every $N placeholder of q by offset.
func renumber(q string, offset int) string {
	if offset == 0 {
		return q
	}
	return placeholder.ReplaceAllStringFunc(q, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		return "$" + strconv.Itoa(n+offset)
	})
}
