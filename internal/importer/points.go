package importer

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

// pointColumns are the accepted headers of a points balance file, by
// field (compared after normHeader). docs/loyalty.md describes the file.
var pointColumns = map[string][]string{
	"customer_id": {"customerid", "enishiid", "顧客id"},
	"email":       {"email", "mail", "メールアドレス", "メール"},
	"phone":       {"phone", "tel", "電話番号"},
	"source":      {"source", "システム"},
	"external_id": {"externalid", "memberid", "会員id", "会員番号"},
	"points":      {"points", "point", "ポイント", "保有ポイント", "ポイント残高"},
	"expires_at":  {"expiresat", "expires", "validthrough", "有効期限", "ポイント有効期限"},
	"note":        {"note", "memo", "備考", "メモ"},
}

// ReadPointBalances reads a points balance file (UTF-8, Shift_JIS or
// EUC-JP, detected as for imports): a header row, then one balance per row
// naming the customer by customer_id, email, phone or source+external_id,
// with points and an optional expiry. A date expiry (YYYY-MM-DD) means the
// points can be used through that Tokyo day; an empty one, that they never
// expire. Rows that cannot be read are returned as row errors; a header
// without a points column, or naming no customer column, is an error.
func ReadPointBalances(r io.Reader, encoding string) ([]loyalty.BalanceRow, []loyalty.RowError, error) {
	enc, err := ParseEncoding(encoding)
	if err != nil {
		return nil, nil, err
	}
	text, _, _, err := decode(r, enc)
	if err != nil {
		return nil, nil, err
	}
	cr := csv.NewReader(text)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil, errs.Errorf(errs.Invalid, "the file is empty")
	}
	if err != nil {
		return nil, nil, errs.Errorf(errs.Invalid, "cannot read the header row: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		n := normHeader(h)
		for field, names := range pointColumns {
			for _, name := range names {
				if n == name {
					if _, dup := col[field]; dup {
						return nil, nil, errs.Errorf(errs.Invalid, "two columns hold %s (%q)", field, h)
					}
					col[field] = i
				}
			}
		}
	}
	if _, ok := col["points"]; !ok {
		return nil, nil, errs.Errorf(errs.Invalid, "no points column (points or ポイント) in the header %v", header)
	}
	named := false
	for _, f := range []string{"customer_id", "email", "phone", "external_id"} {
		_, ok := col[f]
		named = named || ok
	}
	if !named {
		return nil, nil, errs.Errorf(errs.Invalid, "no customer column: give customer_id, email, phone or external_id (with source)")
	}
	get := func(rec []string, field string) string {
		if i, ok := col[field]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []loyalty.BalanceRow
	var bad []loyalty.RowError
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			bad = append(bad, loyalty.RowError{Line: line, Reason: err.Error()})
			continue
		}
		if strings.TrimSpace(strings.Join(rec, "")) == "" {
			continue
		}
		row, err := balanceRow(line, func(f string) string { return get(rec, f) })
		if err != nil {
			bad = append(bad, loyalty.RowError{Line: line, Reason: errs.Message(err)})
			continue
		}
		rows = append(rows, row)
	}
	return rows, bad, nil
}

func balanceRow(line int, get func(string) string) (loyalty.BalanceRow, error) {
	row := loyalty.BalanceRow{Line: line, Email: get("email"), Phone: get("phone"), Source: get("source"), ExternalID: get("external_id"), Note: get("note")}
	if v := get("customer_id"); v != "" {
		id, err := strconv.ParseInt(jtext.NFKC(v), 10, 64)
		if err != nil || id <= 0 {
			return row, errs.FieldErrorf("customer_id", "%q is not a customer id", v)
		}
		row.CustomerID = id
	}
	raw := strings.TrimSpace(jtext.NFKC(get("points")))
	raw = strings.ReplaceAll(strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(raw), "pt"), "p"), ",", "")
	n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
	if err != nil || n <= 0 {
		return row, errs.FieldErrorf("points", "%q is not a number of points above 0", get("points"))
	}
	row.Points = n
	if v := get("expires_at"); v != "" {
		exp, err := parseExpiry(v)
		if err != nil {
			return row, err
		}
		row.ExpiresAt = &exp
	}
	return row, nil
}

// parseExpiry reads an expiry: a day (valid through it) or an instant.
func parseExpiry(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(v)); err == nil {
		return t.UTC(), nil
	}
	d, err := loyalty.ParseDay(jtext.NFKC(v))
	if err != nil {
		return time.Time{}, errs.FieldErrorf("expires_at", "%q is not a date (YYYY-MM-DD, valid through that day)", v)
	}
	return d.End().UTC(), nil
}

// PointErrorsCSV writes rejected balance rows as "line,reason" CSV.
func PointErrorsCSV(w io.Writer, bad []loyalty.RowError) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"line", "reason"}); err != nil {
		return err
	}
	for _, b := range bad {
		if err := cw.Write([]string{fmt.Sprint(b.Line), b.Reason}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
