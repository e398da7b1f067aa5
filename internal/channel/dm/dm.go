// Package dm is direct mail: a segment's postal addresses written as a CSV
// file for a print shop (宛名印刷), in UTF-8 or Shift_JIS, each row
// recorded as a send by the channel service.
package dm

import (
	"context"
	"encoding/csv"
	"io"
	"strings"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/enishi-crm/enishi/internal/message"
)

// Sender records a direct mail as handed over: the address list is the
// delivery, written by WriteCSV.
type Sender struct{}

// Channel implements message.Sender.
func (Sender) Channel() message.Channel { return message.DM }

// Provider names the provider in send records.
func (Sender) Provider() string { return "csv" }

// Send implements message.Sender.
func (Sender) Send(_ context.Context, r message.Rendered) (message.Result, error) {
	return message.Result{Status: "sent"}, nil
}

// Row is one addressee.
type Row struct {
	CustomerID int64
	Name       string // with 様
	PostalCode string
	Prefecture string
	City       string
	Address1   string
	Address2   string
	Note       string
}

// Header is the CSV header, in the words print shops' address tools expect.
var Header = []string{"顧客ID", "郵便番号", "都道府県", "市区町村", "住所1", "住所2", "宛名", "備考"}

// escape keeps spreadsheets from evaluating a cell as a formula.
func escape(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes rows with CRLF line ends; sjis encodes Shift_JIS (CP932)
// for print shops' Windows tools, otherwise UTF-8 with a byte order mark.
// A character Shift_JIS cannot hold is written as 〓 (geta), the print
// trade's mark for a character to fix by hand.
func WriteCSV(w io.Writer, rows []Row, sjis bool) error {
	var out io.Writer = w
	if sjis {
		out = transform.NewWriter(w, encoderWithGeta{})
	} else if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	cw := csv.NewWriter(out)
	cw.UseCRLF = true
	if err := cw.Write(Header); err != nil {
		return err
	}
	for _, r := range rows {
		pc := r.PostalCode
		if len(pc) == 7 && !strings.Contains(pc, "-") {
			pc = pc[:3] + "-" + pc[3:]
		}
		rec := []string{itoa(r.CustomerID), pc, r.Prefecture, r.City, r.Address1, r.Address2, r.Name, r.Note}
		for i := range rec {
			rec[i] = escape(rec[i])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	if c, ok := out.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// encoderWithGeta encodes to Shift_JIS, replacing what it cannot encode.
type encoderWithGeta struct{}

func (encoderWithGeta) Reset() {}

func (encoderWithGeta) Transform(dst, src []byte, atEOF bool) (int, int, error) {
	enc := japanese.ShiftJIS.NewEncoder()
	nDst, nSrc := 0, 0
	for nSrc < len(src) {
		r, size := rune(src[nSrc]), 1
		if r >= 0x80 {
			var ok bool
			r, size, ok = decodeRune(src[nSrc:], atEOF)
			if !ok {
				return nDst, nSrc, transform.ErrShortSrc
			}
		}
		b, err := enc.Bytes([]byte(string(r)))
		if err != nil {
			b, _ = enc.Bytes([]byte("〓"))
		}
		if nDst+len(b) > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		nDst += copy(dst[nDst:], b)
		nSrc += size
	}
	return nDst, nSrc, nil
}

func decodeRune(b []byte, atEOF bool) (rune, int, bool) {
	s := string(b)
	for i, r := range s {
		if i > 0 {
			break
		}
		if r == '\uFFFD' && len(b) < 4 && !atEOF {
			return 0, 0, false
		}
		n := len(string(r))
		if r == '\uFFFD' {
			n = 1
		}
		return r, n, true
	}
	return 0, 0, false
}
