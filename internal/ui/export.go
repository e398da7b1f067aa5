package ui

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/identity"
)

// exportBatch is how many customers an export reads per query.
const exportBatch = 500 // the most SearchCustomers returns at once

// exportCustomers downloads the filtered customer list as CSV (UTF-8 with a
// BOM, or Shift_JIS for older Excel) or as an Excel workbook. Personal data
// is masked for roles without pii:read.
func (u *UI) exportCustomers(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if !validExportFormat(format) {
		return errs.FieldErrorf("format", "%q is not csv, csv-sjis or xlsx", format)
	}
	q, _ := customerQuery(r)
	masked := !enishihttp.PrincipalFrom(r.Context()).Can(auth.PIIRead)
	name := "customers-" + u.cfg.Clock.Now().In(clock.Tokyo).Format("20060102-1504")
	if err := u.api.Audit(r, "customer.export", "", "format "+format+", masked="+strconv.FormatBool(masked)+", filters "+filterValues(q).Encode()); err != nil {
		return err
	}
	return writeTable(w, format, name, u.exportHeader(u.localeFor(r)), func(fn func(row []any) error) error {
		return u.customerRows(r.Context(), q, masked, fn)
	})
}

// exportHeader is the customer export's header row.
func (u *UI) exportHeader(loc *locale) []string {
	return []string{"id", loc.T("customers.name"), loc.T("customers.kana"), loc.T("customers.email"), loc.T("customers.phone"),
		loc.T("customers.prefecture"), loc.T("customers.orders"), loc.T("customers.spent"), loc.T("customers.last_order"), loc.T("customer.since")}
}

// customerRows calls fn with the export row of every customer q selects,
// in pages, masked for roles without pii:read.
func (u *UI) customerRows(ctx context.Context, q customer.Query, masked bool, fn func(row []any) error) error {
	q.Limit, q.NoTotal = exportBatch, true
	for {
		page, _, err := u.cfg.Store.SearchCustomers(ctx, q)
		if err != nil {
			return err
		}
		for _, s := range page {
			if masked {
				s.Mask()
			}
			if err := fn(exportRow(s)); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		q.BeforeID = page[len(page)-1].ID
	}
}

func validExportFormat(f string) bool { return f == "csv" || f == "csv-sjis" || f == "xlsx" }

// writeTable streams a table as a download: "csv" (UTF-8 with a BOM, which
// Excel needs), "csv-sjis" (Shift_JIS, for older Excel) or "xlsx". Cells are
// protected against formula injection.
func writeTable(w http.ResponseWriter, format, name string, header []string, each func(func([]any) error) error) error {
	w.Header().Set("Cache-Control", "no-store")
	if format == "xlsx" {
		w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		w.Header().Set("Content-Disposition", contentDisposition(name+".xlsx"))
		return writeXLSX(w, header, each)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	var out io.Writer = bw
	if format == "csv-sjis" {
		w.Header().Set("Content-Type", "text/csv; charset=Shift_JIS")
		// Characters Shift_JIS lacks (emoji, some 異体字) become "?".
		out = encoding.ReplaceUnsupported(japanese.ShiftJIS.NewEncoder()).Writer(bw)
	} else {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		bw.WriteString("\ufeff")
	}
	w.Header().Set("Content-Disposition", contentDisposition(name+".csv"))
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	if err := cw.Write(header); err != nil {
		return err
	}
	err := each(func(row []any) error {
		rec := make([]string, len(row))
		for i, v := range row {
			rec[i] = safeCell(toCell(v))
		}
		return cw.Write(rec)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func exportRow(s customer.Summary) []any {
	phone := s.Phone
	if phone != "" && !strings.Contains(phone, "*") {
		phone = identity.NationalPhone(phone)
	}
	last := ""
	if s.LastOrderAt != nil {
		last = s.LastOrderAt.In(clock.Tokyo).Format("2006-01-02")
	}
	return []any{s.ID, s.DisplayName, s.NameKana, s.Email, phone, s.Prefecture, s.OrderCount, s.TotalSpent, last,
		s.CreatedAt.In(clock.Tokyo).Format("2006-01-02")}
}

func toCell(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return formatInt(x)
	case int:
		return formatInt(int64(x))
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// encodeValues is url.Values.Encode.
func encodeValues(v map[string][]string) string { return url.Values(v).Encode() }

func formatInt(n int64) string {
	return strings.ReplaceAll(formatNum(n), ",", "")
}

// safeCell keeps a spreadsheet from running text as a formula (CSV
// injection): cells starting with = + - @ or a control character get a
// leading apostrophe.
func safeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

func writeXLSX(w io.Writer, header []string, each func(func([]any) error) error) error {
	f := excelize.NewFile()
	defer f.Close()
	sheet := f.GetSheetName(0)
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	hdr := make([]any, len(header))
	for i, h := range header {
		hdr[i] = h
	}
	if err := sw.SetRow("A1", hdr); err != nil {
		return err
	}
	n := 1
	err = each(func(row []any) error {
		n++
		cells := make([]any, len(row))
		for i, v := range row {
			if s, ok := v.(string); ok {
				v = safeCell(s)
			}
			cells[i] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, n)
		return sw.SetRow(cell, cells)
	})
	if err != nil {
		return err
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	return f.Write(w)
}

// contentDisposition names a download; non-ASCII names use RFC 5987.
func contentDisposition(name string) string {
	return mime.FormatMediaType("attachment", map[string]string{"filename": name})
}
