package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/segment"
)

type segmentsPage struct {
	*base
	Segments []segment.Segment
}

// segments lists the stored segments with their member counts.
func (u *UI) segments(w http.ResponseWriter, r *http.Request) error {
	list, err := u.cfg.Store.Segments(r.Context())
	if err != nil {
		return err
	}
	return u.render(w, r, http.StatusOK, "segments", &segmentsPage{base: u.newBase(r, "segments", "segments.title"), Segments: list})
}

// segmentEditPage is the editor of a new or stored segment.
type segmentEditPage struct {
	*base
	Seg         *segment.Segment // nil for a new one
	Name        string
	Description string
	B           *builder
	Fields      []segment.FieldInfo
	Preview     *segment.Preview
	CountError  string
	Masked      bool
}

// Action is where the editor's form posts.
func (p *segmentEditPage) Action() string {
	if p.Seg == nil {
		return "/segments"
	}
	return "/segments/" + strconv.FormatInt(p.Seg.ID, 10)
}

// FieldLabel names a field of the condition language in the page's
// language (the catalogue's Japanese label when no translation exists).
func (b *base) FieldLabel(name string) string {
	if b.loc.Has("segfield." + name) {
		return b.loc.T("segfield." + name)
	}
	if f, ok := segment.Field(name); ok {
		return f.Label
	}
	return name
}

// Sources are the groups the field menu shows.
func (p *segmentEditPage) Sources() []string { return []string{"core", "analytics", "loyalty"} }

// FieldsOf lists the fields of one source group.
func (p *segmentEditPage) FieldsOf(src string) []segment.FieldInfo {
	var out []segment.FieldInfo
	for _, f := range segment.Fields {
		s := string(f.Source)
		if s == "" {
			s = "core"
		}
		if s == src {
			out = append(out, f)
		}
	}
	return out
}

func (u *UI) newSegment(w http.ResponseWriter, r *http.Request) error {
	pg := &segmentEditPage{base: u.newBase(r, "segments", "segments.new"), B: newBuilder()}
	return u.showSegmentEditor(w, r, http.StatusOK, pg)
}

func (u *UI) editSegment(w http.ResponseWriter, r *http.Request) error {
	seg, err := u.segmentFromPath(r)
	if err != nil {
		return err
	}
	pg := &segmentEditPage{base: u.newBase(r, "segments", "segments.edit", seg.Name), Seg: seg, Name: seg.Name, Description: seg.Description}
	b, ok := builderFor(seg.Condition)
	if !ok {
		js, _ := json.MarshalIndent(seg.Condition, "", "  ")
		b = &builder{Mode: "all", JSON: string(js), Advanced: true}
	}
	pg.B = b
	return u.showSegmentEditor(w, r, http.StatusOK, pg)
}

func (u *UI) segmentFromPath(r *http.Request) (*segment.Segment, error) {
	id, err := pathInt(r, "id")
	if err != nil {
		return nil, err
	}
	return u.cfg.Store.Segment(r.Context(), id)
}

// showSegmentEditor renders the editor with the live count of its
// condition (or the reason it cannot be counted yet).
func (u *UI) showSegmentEditor(w http.ResponseWriter, r *http.Request, status int, pg *segmentEditPage) error {
	pg.Fields = segment.Fields
	u.countInto(r.Context(), pg)
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "builder" {
		return u.fragment(w, "segment_edit", "builder", pg)
	}
	return u.render(w, r, status, "segment_edit", pg)
}

// segmentSampleSize is how many matching customers the live count shows.
const segmentSampleSize = 5

// countInto counts the editor's condition now.
func (u *UI) countInto(ctx context.Context, pg *segmentEditPage) {
	pg.Masked = !pg.P.Can(auth.PIIRead)
	c, err := pg.B.condition()
	if err == nil {
		pg.Preview, err = u.cfg.Store.PreviewSegment(ctx, c, segmentSampleSize)
	}
	if err != nil {
		pg.Preview, pg.CountError = nil, pg.loc.errorText(err)
		return
	}
	if pg.Masked {
		for i := range pg.Preview.Sample {
			pg.Preview.Sample[i].Mask()
		}
	}
}

// segmentCount answers the editor's live count (htmx, as conditions change).
func (u *UI) segmentCount(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form: %v", err)
	}
	pg := &segmentEditPage{base: u.newBase(r, "segments", ""), B: parseBuilder(r.PostForm)}
	u.countInto(r.Context(), pg)
	return u.fragment(w, "segment_edit", "count", pg)
}

// saveSegment creates (POST /segments) or updates (POST /segments/{id}) a
// segment; with a cmd it only changes the editor (a row or group added or
// removed, a field changed) and shows it again.
func (u *UI) saveSegment(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return errs.Errorf(errs.Invalid, "unreadable form: %v", err)
	}
	var cur *segment.Segment
	title, args := "segments.new", []any{}
	if r.PathValue("id") != "" {
		var err error
		if cur, err = u.segmentFromPath(r); err != nil {
			return err
		}
		title, args = "segments.edit", []any{cur.Name}
	}
	pg := &segmentEditPage{base: u.newBase(r, "segments", title, args...), Seg: cur, B: parseBuilder(r.PostForm),
		Name: r.PostFormValue("name"), Description: r.PostFormValue("description")}
	if cmd := r.PostFormValue("cmd"); cmd != "" {
		if err := pg.B.apply(cmd); err != nil {
			if !isValidation(err) {
				return err
			}
			pg.Error = pg.loc.errorText(err)
		}
		return u.showSegmentEditor(w, r, http.StatusOK, pg)
	}
	c, err := pg.B.condition()
	if err == nil {
		seg := segment.Segment{Name: pg.Name, Description: pg.Description, Condition: c, CreatedBy: principal(r).Actor()}
		var saved *segment.Segment
		if cur == nil {
			saved, err = u.cfg.Store.CreateSegment(r.Context(), seg)
		} else {
			seg.ID = cur.ID
			saved, err = u.cfg.Store.UpdateSegment(r.Context(), seg)
		}
		if err == nil {
			action := "segment.create"
			if cur != nil {
				action = "segment.update"
			}
			if err := u.api.Audit(r, action, "segment:"+strconv.FormatInt(saved.ID, 10), saved.Name); err != nil {
				return err
			}
			return redirect(w, r, "/segments/"+strconv.FormatInt(saved.ID, 10), "segment_saved")
		}
	}
	if !isValidation(err) {
		return err
	}
	pg.Error = pg.loc.errorText(err)
	return u.showSegmentEditor(w, r, http.StatusUnprocessableEntity, pg)
}

// segmentPage shows a segment: its condition, count and members.
type segmentPage struct {
	*base
	Seg     *segment.Segment
	B       *builder // nil when the condition is shown as JSON
	JSON    string
	Members []customer.Summary
	// First and Next page the members (by id, as the store does).
	First, Next string
	Masked      bool
}

// segmentMembersPerPage is one page of a segment's members.
const segmentMembersPerPage = 50

func (u *UI) segmentShow(w http.ResponseWriter, r *http.Request) error {
	seg, err := u.segmentFromPath(r)
	if err != nil {
		return err
	}
	after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	list, err := u.cfg.Store.SegmentMembers(r.Context(), seg.ID, segmentMembersPerPage, max(after, 0))
	if err != nil {
		return err
	}
	pg := &segmentPage{base: u.newBase(r, "segments", "segments.show", seg.Name), Seg: seg, Members: list,
		Masked: !enishihttp.PrincipalFrom(r.Context()).Can(auth.PIIRead)}
	if pg.Masked {
		for i := range pg.Members {
			pg.Members[i].Mask()
		}
	}
	if b, ok := builderFor(seg.Condition); ok && !seg.Condition.IsZero() {
		pg.B = b
	} else if !seg.Condition.IsZero() {
		js, _ := json.MarshalIndent(seg.Condition, "", "  ")
		pg.JSON = string(js)
	}
	base := "/segments/" + strconv.FormatInt(seg.ID, 10)
	if after > 0 {
		pg.First = base
	}
	if len(list) == segmentMembersPerPage {
		pg.Next = base + "?after=" + strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return u.render(w, r, http.StatusOK, "segment", pg)
}

func (u *UI) deleteSegment(w http.ResponseWriter, r *http.Request) error {
	seg, err := u.segmentFromPath(r)
	if err != nil {
		return err
	}
	if err := u.cfg.Store.DeleteSegment(r.Context(), seg.ID); err != nil {
		return err
	}
	if err := u.api.Audit(r, "segment.delete", "segment:"+strconv.FormatInt(seg.ID, 10), seg.Name); err != nil {
		return err
	}
	return redirect(w, r, "/segments", "segment_deleted")
}

// segmentFromRFM saves an RFM cell (the heat map's click) as a segment of
// the stored R and F scores.
func (u *UI) segmentFromRFM(w http.ResponseWriter, r *http.Request) error {
	rv, _ := strconv.Atoi(r.PostFormValue("r"))
	fv, _ := strconv.Atoi(r.PostFormValue("f"))
	if rv < 1 || rv > 5 || fv < 1 || fv > 5 {
		return errs.Errorf(errs.Invalid, "r and f must be scores from 1 to 5")
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		name = fmt.Sprintf("RFM R%d·F%d", rv, fv)
	}
	c := segment.Condition{All: []segment.Condition{
		{Field: "rfm_r", Op: "=", Value: json.RawMessage(strconv.Itoa(rv))},
		{Field: "rfm_f", Op: "=", Value: json.RawMessage(strconv.Itoa(fv))},
	}}
	seg, err := u.cfg.Store.CreateSegment(r.Context(), segment.Segment{Name: name, Description: u.localeFor(r).T("segments.rfm_description", rv, fv),
		Condition: c, CreatedBy: principal(r).Actor()})
	if err != nil {
		return err
	}
	if err := u.api.Audit(r, "segment.create", "segment:"+strconv.FormatInt(seg.ID, 10), seg.Name); err != nil {
		return err
	}
	return redirect(w, r, "/segments/"+strconv.FormatInt(seg.ID, 10), "segment_saved")
}
