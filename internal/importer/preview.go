package importer

import (
	"io"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Preview is how the importer reads the start of a file, before anything is
// written: the encoding and format it settled on, the header, the first
// rows, and which field each column fills. The web UI shows it so that
// people can check a file before importing it.
type Preview struct {
	Kind     Kind     `json:"kind"`
	Format   string   `json:"format"`
	Title    string   `json:"format_title"`
	Encoding string   `json:"encoding"`
	Header   []string `json:"header"`
	// Fields names, per header column, the field it fills ("" when the
	// column is ignored; "attr.NAME" for custom attributes).
	Fields []string   `json:"fields"`
	Rows   [][]string `json:"rows"`
	// Problem says why the file cannot be imported as it is (a missing
	// required column, an unknown layout); "" when it can.
	Problem string `json:"problem,omitempty"`
}

// PreviewFile reads the header and up to n rows of a file with the options
// an import would use. An unreadable file is an error; a file whose layout
// does not fit gives a Preview with Problem set, so the rows can still be
// shown.
func PreviewFile(in io.Reader, opt Options, n int) (*Preview, error) {
	h, err := readHeader(in, opt)
	if err != nil {
		return nil, err
	}
	p := &Preview{Kind: opt.Kind, Encoding: h.enc, Header: h.header, Fields: make([]string, len(h.header)), Rows: [][]string{}}
	for len(p.Rows) < n {
		rec, err := h.cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(p.Rows) == 0 {
				return nil, errs.Errorf(errs.Invalid, "%s: %v", opt.FileName, err)
			}
			break
		}
		if blank(rec) {
			continue
		}
		p.Rows = append(p.Rows, append([]string(nil), rec...))
	}
	f, layout, err := chooseLayout(opt, h.header)
	if err != nil {
		p.Problem = errs.Message(err)
		return p, nil
	}
	p.Format, p.Title = f.Name, f.Title
	bnd, err := bind(opt.Kind, layout, h.header, opt.Mapping)
	if err != nil {
		p.Problem = errs.Message(err)
		return p, nil
	}
	for fld, col := range bnd.idx {
		if col >= 0 && col < len(p.Fields) {
			p.Fields[col] = FieldName(opt.Kind, Field(fld))
		}
	}
	for name, col := range bnd.attrs {
		if col < len(p.Fields) && p.Fields[col] == "" {
			p.Fields[col] = "attr." + strings.TrimSpace(name)
		}
	}
	return p, nil
}
