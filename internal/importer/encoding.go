package importer

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Encodings enishi reads. Shift_JIS here is Windows-31J (CP932), which is
// what Japanese Windows and Excel write and what x/text decodes.
const (
	EncAuto     = "auto"
	EncUTF8     = "utf-8"
	EncShiftJIS = "shift_jis"
	EncCP932    = "cp932"
	EncEUCJP    = "euc-jp"
)

// ParseEncoding validates an --encoding value.
func ParseEncoding(s string) (string, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "-")) {
	case "", "auto":
		return EncAuto, nil
	case "utf-8", "utf8":
		return EncUTF8, nil
	case "shift-jis", "sjis", "shiftjis", "sjis-win", "windows-31j", "ms932":
		return EncShiftJIS, nil
	case "cp932":
		return EncCP932, nil
	case "euc-jp", "eucjp":
		return EncEUCJP, nil
	}
	return "", errs.Errorf(errs.Invalid, "unknown encoding %q (use auto, utf-8, shift_jis, cp932 or euc-jp)", s)
}

func codec(enc string) encoding.Encoding {
	switch enc {
	case EncShiftJIS, EncCP932:
		return japanese.ShiftJIS
	case EncEUCJP:
		return japanese.EUCJP
	}
	return nil
}

const sniffSize = 64 << 10

// decode wraps r so that it yields UTF-8. With enc auto it looks at the
// first 64 KiB: a UTF-8 BOM or valid UTF-8 means UTF-8; otherwise the text is
// read as Shift_JIS (CP932) if it decodes cleanly, else EUC-JP. It returns the
// encoding used and whether the input began with a BOM.
func decode(r io.Reader, enc string) (io.Reader, string, bool, error) {
	br := bufio.NewReaderSize(r, sniffSize)
	head, err := br.Peek(sniffSize)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, "", false, err
	}
	bom := bytes.HasPrefix(head, []byte("\xef\xbb\xbf"))
	if enc == EncAuto {
		enc = sniff(head, bom)
	}
	if bom && enc == EncUTF8 {
		_, _ = br.Discard(3)
	}
	if c := codec(enc); c != nil {
		return transform.NewReader(br, c.NewDecoder()), enc, bom, nil
	}
	return br, enc, bom, nil
}

func sniff(head []byte, bom bool) string {
	if bom {
		return EncUTF8
	}
	// A multi-byte sequence may be cut at the end of the sample.
	trimmed := head
	for i := 0; i < 3 && len(trimmed) > 0 && !utf8.Valid(trimmed); i++ {
		trimmed = trimmed[:len(trimmed)-1]
	}
	if utf8.Valid(trimmed) {
		return EncUTF8
	}
	if decodesCleanly(head, japanese.ShiftJIS) {
		return EncShiftJIS
	}
	if decodesCleanly(head, japanese.EUCJP) {
		return EncEUCJP
	}
	return EncShiftJIS
}

func decodesCleanly(b []byte, e encoding.Encoding) bool {
	out, _, err := transform.Bytes(e.NewDecoder(), b)
	if err != nil {
		return false
	}
	// Allow one replacement at the very end (a character cut by the sample).
	n := bytes.Count(out, []byte("\uFFFD"))
	return n == 0 || n == 1 && bytes.HasSuffix(out, []byte("\uFFFD"))
}

// encoder returns a writer that encodes UTF-8 into enc (for the errors file,
// which is written in the input's encoding so it can be fixed and re-imported).
func encoder(w io.Writer, enc string) io.Writer {
	if c := codec(enc); c != nil {
		return transform.NewWriter(w, encoding.ReplaceUnsupported(c.NewEncoder()))
	}
	return w
}
