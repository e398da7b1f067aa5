package importer

import (
	"sort"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
)

// Helpers shared by the presets for shop systems (shopify.go, eccube.go …).

// codeTable translates a source system's codes or words for one field
// (order statuses, genders, line types) into ours. Lookups ignore case,
// width and surrounding space, since exports differ in all three.
type codeTable struct {
	field  string // canonical field the codes are for, named in errors
	format string // the preset's name, shown in errors
	codes  map[string]string
}

func newCodeTable(field, format string, codes map[string]string) codeTable {
	m := make(map[string]string, len(codes))
	for k, v := range codes {
		m[codeKey(k)] = v
	}
	return codeTable{field: field, format: format, codes: m}
}

func codeKey(s string) string { return strings.ToLower(strings.TrimSpace(jtext.NFKC(s))) }

// lookup returns the translation of v, or an error that names the column,
// the value and the values the system is known to write, so that a shop
// with a custom status knows to map it with --map.
func (t codeTable) lookup(column, v string) (string, error) {
	if out, ok := t.codes[codeKey(v)]; ok {
		return out, nil
	}
	known := make([]string, 0, len(t.codes))
	for k := range t.codes {
		known = append(known, k)
	}
	sort.Strings(known)
	return "", errs.FieldErrorf(t.field, "%s %q is not a value the %s preset knows (known: %s); correct it, or convert the file to the enishi format (docs/formats.md)",
		column, v, t.format, strings.Join(known, ", "))
}

// firstCol returns the first non-empty value among the named source columns.
func firstCol(r *Row, headers ...string) string {
	for _, h := range headers {
		if v := r.Col(h); v != "" {
			return v
		}
	}
	return ""
}

// clearLine blanks a row's line-item fields, making it an order-level row
// (a shipping-fee or discount line of an export that lists those as items).
func clearLine(r *Row) {
	for _, f := range []Field{FSKU, FProductName, FCategory, FQuantity, FUnitPrice, FAmount} {
		r.Set(f, "")
	}
}

// yenOf reads an amount from a source column for arithmetic in a Transform;
// an empty cell is zero. Errors name the canonical field the amount feeds.
func yenOf(r *Row, field Field, header string) (int64, error) {
	v := r.Col(header)
	if v == "" {
		return 0, nil
	}
	n, err := order.ParseYen(v)
	if err != nil {
		return 0, errs.FieldErrorf(FieldName(Orders, field), "%s: %s", header, errs.Message(err))
	}
	return n, nil
}

// joinDateTime joins a date column and a separate time column, as 楽天 RMS
// (注文日 + 注文時間) and makeshop (日付 + 注文時間) export them. The time
// may be hh:mm[:ss] or bare digits, hhmmss or hhmm; spreadsheets drop the
// leading zero of a morning time (93309), so short digit runs are padded.
// Anything else is passed on whole, for ParseTime to refuse with the value.
func joinDateTime(date, clock string) string {
	date, clock = strings.TrimSpace(date), strings.TrimSpace(jtext.NFKC(clock))
	if date == "" || clock == "" {
		return date
	}
	digits := strings.Trim(clock, "0123456789") == ""
	switch {
	case digits && (len(clock) == 5 || len(clock) == 6):
		clock = strings.Repeat("0", 6-len(clock)) + clock
		clock = clock[:2] + ":" + clock[2:4] + ":" + clock[4:]
	case digits && (len(clock) == 3 || len(clock) == 4):
		clock = strings.Repeat("0", 4-len(clock)) + clock
		clock = clock[:2] + ":" + clock[2:]
	}
	return date + " " + clock
}
