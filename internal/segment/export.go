package segment

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/errs"
)

// Encodings a segment export can be written in.
const (
	UTF8     = "utf-8"     // with a byte order mark, so Excel reads Japanese
	ShiftJIS = "shift_jis" // CP932, what older Excel on Windows expects
)

// ExportHeader is the header row of a segment export.
var ExportHeader = []string{"顧客ID", "姓", "名", "メールアドレス", "電話番号", "都道府県", "購入回数", "累計購入金額", "最終購入日", "セグメント参加日"}

// Exporter writes segment members as CSV in the chosen encoding, cells
// escaped against formula injection by csvexport.Escape.
type Exporter struct {
	w *csv.Writer
}

// NewExporter writes the header and returns an exporter on w. enc is
// UTF8 (the default when empty) or ShiftJIS; characters Shift_JIS cannot
// hold become "?".
func NewExporter(w io.Writer, enc string) (*Exporter, error) {
	switch strings.ToLower(strings.ReplaceAll(enc, "-", "_")) {
	case "", "utf_8", "utf8":
		if _, err := io.WriteString(w, "\ufeff"); err != nil {
			return nil, err
		}
	case "shift_jis", "sjis", "cp932":
		w = encoding.ReplaceUnsupported(japanese.ShiftJIS.NewEncoder()).Writer(w)
	default:
		return nil, errs.FieldErrorf("encoding", "%q is not an export encoding (utf-8 or shift_jis)", enc)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	e := &Exporter{w: cw}
	return e, cw.Write(ExportHeader)
}

// Write writes one member.
func (e *Exporter) Write(m Member) error {
	last := ""
	if m.LastOrderAt != nil {
		last = m.LastOrderAt.In(clock.Tokyo).Format("2006-01-02")
	}
	return e.w.Write([]string{
		strconv.FormatInt(m.CustomerID, 10), csvexport.Escape(m.LastName), csvexport.Escape(m.FirstName), csvexport.Escape(m.Email), csvexport.Escape(m.Phone),
		csvexport.Escape(m.Prefecture), strconv.FormatInt(m.OrderCount, 10), strconv.FormatInt(m.TotalSpent, 10), last,
		m.EnteredAt.In(clock.Tokyo).Format("2006-01-02"),
	})
}

// Flush writes what is buffered and reports any write error.
func (e *Exporter) Flush() error {
	e.w.Flush()
	return e.w.Error()
}
