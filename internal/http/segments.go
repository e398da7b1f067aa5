package http

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/csvexport"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/segment"
)

// routesSegments registers the segment API (docs/api.md, docs/segments.md).
func (s *Server) routesSegments() {
	s.Handle("GET /api/v1/segments", auth.CustomersRead, s.listSegments)
	s.Handle("POST /api/v1/segments", auth.SegmentsWrite, s.createSegment)
	s.Handle("GET /api/v1/segments/fields", auth.CustomersRead, s.segmentFields)
	s.Handle("POST /api/v1/segments/preview", auth.SegmentsWrite, s.previewSegment)
	s.Handle("GET /api/v1/segments/{id}", auth.CustomersRead, s.getSegment)
	s.Handle("PUT /api/v1/segments/{id}", auth.SegmentsWrite, s.updateSegment)
	s.Handle("DELETE /api/v1/segments/{id}", auth.SegmentsWrite, s.deleteSegment)
	s.Handle("GET /api/v1/segments/{id}/count", auth.CustomersRead, s.countSegment)
	s.Handle("GET /api/v1/segments/{id}/members", auth.CustomersRead, s.segmentMembers)
	s.Handle("GET /api/v1/segments/{id}/history", auth.CustomersRead, s.segmentHistory)
	s.Handle("GET /api/v1/segments/{id}/export", auth.CustomersExport, s.exportSegment)
	s.Handle("POST /api/v1/segments/{id}/push", auth.SegmentsWrite, s.pushSegment)
}

// segmentInput is the body of create and update.
type segmentInput struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Condition   json.RawMessage `json:"condition"`
}

func (in segmentInput) segment(actor string) (segment.Segment, error) {
	if len(in.Condition) == 0 {
		return segment.Segment{}, errs.FieldErrorf("condition", "give a condition ({} matches everyone)")
	}
	c, err := segment.Parse(in.Condition)
	if err != nil {
		return segment.Segment{}, err
	}
	return segment.Segment{Name: in.Name, Description: in.Description, Condition: c, CreatedBy: actor}, nil
}

func (s *Server) listSegments(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.Segments(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"segments": list})
}

func (s *Server) createSegment(w http.ResponseWriter, r *http.Request) error {
	var in segmentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	seg, err := in.segment(PrincipalFrom(r.Context()).Actor())
	if err != nil {
		return err
	}
	created, err := s.cfg.Store.CreateSegment(r.Context(), seg)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "segment.create", "segment:"+itoa64(created.ID), created.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, created)
	return nil
}

func (s *Server) segmentFields(w http.ResponseWriter, r *http.Request) error {
	type field struct {
		segment.FieldInfo
		Ops []string `json:"ops"`
	}
	out := make([]field, len(segment.Fields))
	for i, f := range segment.Fields {
		out[i] = field{FieldInfo: f, Ops: segment.Ops(f.Kind)}
	}
	return JSON(w, map[string]any{"fields": out})
}

func (s *Server) previewSegment(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Condition json.RawMessage `json:"condition"`
		Sample    int             `json:"sample"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Condition) == 0 {
		in.Condition = json.RawMessage(`{}`)
	}
	c, err := segment.Parse(in.Condition)
	if err != nil {
		return err
	}
	p, err := s.cfg.Store.PreviewSegment(r.Context(), c, in.Sample)
	if err != nil {
		return err
	}
	s.maskSummaries(r, p.Sample)
	return JSON(w, p)
}

func (s *Server) maskSummaries(r *http.Request, list []customer.Summary) {
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range list {
			list[i].Mask()
		}
	}
}

func (s *Server) getSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	seg, err := s.cfg.Store.Segment(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, seg)
}

func (s *Server) updateSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in segmentInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	seg, err := in.segment("")
	if err != nil {
		return err
	}
	seg.ID = id
	updated, err := s.cfg.Store.UpdateSegment(r.Context(), seg)
	if err != nil {
		return err
	}
	if err := s.Audit(r, "segment.update", "segment:"+itoa64(id), updated.Name); err != nil {
		return err
	}
	return JSON(w, updated)
}

func (s *Server) deleteSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteSegment(r.Context(), id); err != nil {
		return err
	}
	if err := s.Audit(r, "segment.delete", "segment:"+itoa64(id), ""); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) countSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.cfg.Store.CountSegment(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, map[string]int64{"count": n})
}

func (s *Server) segmentMembers(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 50)
	if err != nil {
		return err
	}
	after, err := queryInt(r, "after", 0)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.SegmentMembers(r.Context(), id, limit, int64(after))
	if err != nil {
		return err
	}
	s.maskSummaries(r, list)
	next := ""
	if len(list) == limit {
		next = strconv.FormatInt(list[len(list)-1].ID, 10)
	}
	return JSON(w, map[string]any{"members": list, "next_after": next})
}

func (s *Server) segmentHistory(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	before, err := queryInt(r, "before", 0)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.SegmentChanges(r.Context(), id, limit, int64(before))
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"changes": list})
}

// exportSegment streams the members as CSV (UTF-8 with BOM, or Shift_JIS
// with ?encoding=shift_jis), masked without pii:read.
func (s *Server) exportSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	seg, err := s.cfg.Store.Segment(r.Context(), id)
	if err != nil {
		return err
	}
	enc := r.URL.Query().Get("encoding")
	switch enc {
	case "", segment.UTF8, "utf8", segment.ShiftJIS, "sjis", "cp932":
	default:
		return errs.FieldErrorf("encoding", "%q is not an export encoding (utf-8 or shift_jis)", enc)
	}
	mask := !PrincipalFrom(r.Context()).Can(auth.PIIRead)
	// Data leaves: audited before the first byte (errors cannot be
	// answered once the file has started).
	if err := s.Audit(r, "segment.export", "segment:"+itoa64(id), fmt.Sprintf("%d members, encoding %s, masked=%t", seg.MemberCount, charset(enc), mask)); err != nil {
		return err
	}

	csvexport.Attachment(w.Header(), "segment-"+strconv.FormatInt(seg.ID, 10)+"-"+s.cfg.Clock.Now().Format("20060102")+".csv")
	w.Header().Set("Content-Type", "text/csv; charset="+charset(enc))
	ex, err := segment.NewExporter(w, enc)
	if err != nil {
		return err
	}
	err = s.cfg.Store.ExportSegment(r.Context(), id, false, func(m segment.Member) error {
		if mask {
			p := customer.Profile{LastName: m.LastName, FirstName: m.FirstName, Email: m.Email, Phone: m.Phone}
			p.Mask()
			m.LastName, m.FirstName, m.Email, m.Phone = p.LastName, p.FirstName, p.Email, p.Phone
		}
		return ex.Write(m)
	})
	if err != nil {
		// Headers are out: the best we can do is stop the file short.
		s.cfg.Log.Error("segment export", "segment", id, "err", err)
		return nil
	}
	return ex.Flush()
}

// charset names an export encoding as Content-Type does.
func charset(enc string) string {
	if enc != "" && enc != segment.UTF8 && enc != "utf8" {
		return "shift_jis"
	}
	return "utf-8"
}

func (s *Server) pushSegment(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Target string `json:"target"`
		Ref    string `json:"ref"`  // the Shopify tag, or the LINE audience id to add to
		Shop   string `json:"shop"` // the Shopify shop (example.myshopify.com) whose stored token to use
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	seg, err := s.cfg.Store.Segment(r.Context(), id)
	if err != nil {
		return err
	}
	if in.Target != segment.TargetShopify && in.Target != segment.TargetLINE {
		return errs.FieldErrorf("target", "%q is not a push target (shopify or line)", in.Target)
	}
	prev, err := s.cfg.Store.SegmentPushState(r.Context(), id, in.Target)
	if err != nil {
		return err
	}
	var members []segment.Member
	if err := s.cfg.Store.ExportSegment(r.Context(), id, true, func(m segment.Member) error {
		members = append(members, m)
		return nil
	}); err != nil {
		return err
	}
	pusher := s.cfg.Pusher
	if in.Target == segment.TargetLINE && pusher.LINE == nil && s.cfg.Channels != nil {
		// The channels' LINE client: an audience of the members who may
		// receive LINE marketing (consent and blocks checked there).
		ids := make([]int64, len(members))
		for i, m := range members {
			ids[i] = m.CustomerID
		}
		aid, n, err := s.cfg.Channels.LINEAudience(r.Context(), "enishi "+seg.Name, ids)
		if err != nil {
			return err
		}
		ref := strconv.FormatInt(aid, 10)
		if err := s.cfg.Store.SaveSegmentPush(r.Context(), segment.PushState{SegmentID: id, Target: in.Target, Ref: ref}); err != nil {
			return err
		}
		if err := s.Audit(r, "segment.push", "segment:"+itoa64(id), fmt.Sprintf("line audience %s, %d users", ref, n)); err != nil {
			return err
		}
		return JSON(w, map[string]any{"result": segment.PushResult{Target: in.Target, Ref: ref, Added: n, Unreachable: len(members) - n},
			"pushed_at": s.cfg.Clock.Now().Format(time.RFC3339)})
	}
	if in.Target == segment.TargetShopify && pusher.Shopify == nil && in.Shop != "" && s.cfg.Ingest != nil {
		// The shop's Admin API client from its stored token (enishi sync shopify --token).
		c, err := s.cfg.Ingest.ShopifyClient(r.Context(), in.Shop)
		if err != nil {
			return err
		}
		pusher.Shopify = ingest.ShopifyWriteBack{Store: s.cfg.Store, Client: c}
	}
	res, next, err := pusher.Push(r.Context(), seg, in.Target, in.Ref, members, prev)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.SaveSegmentPush(r.Context(), next); err != nil {
		return err
	}
	if err := s.Audit(r, "segment.push", "segment:"+itoa64(id), fmt.Sprintf("%s %s: +%d -%d", res.Target, res.Ref, res.Added, res.Removed)); err != nil {
		return err
	}
	return JSON(w, map[string]any{"result": res, "pushed_at": s.cfg.Clock.Now().Format(time.RFC3339)})
}
