package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/channel/dm"
	"github.com/enishi-crm/enishi/internal/channel/email"
	"github.com/enishi-crm/enishi/internal/channel/sms"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// routesChannels registers templates, sends, suppressions, channel
// settings, and the public endpoints messages link to (unsubscribe, open
// pixel, click redirect) and providers call (SMS status and replies).
func (s *Server) routesChannels() {
	s.Handle("GET /api/v1/channels/settings", auth.SettingsWrite, s.getChannelSettings)
	s.Handle("PUT /api/v1/channels/settings", auth.SettingsWrite, s.putChannelSettings)
	s.Handle("GET /api/v1/channels/email/dns", auth.SettingsWrite, s.emailDNS)
	s.Handle("POST /api/v1/channels/email/bounces", auth.IngestWrite, s.emailBounce)
	s.Handle("GET /api/v1/channels/line/quota", auth.ReportsRead, s.lineQuota)
	s.Handle("POST /api/v1/channels/line/audiences", auth.CampaignsSend, s.lineAudience)
	s.Handle("POST /api/v1/channels/dm/export", auth.CustomersExport, s.dmExport)

	s.Handle("GET /api/v1/templates", auth.CampaignsSend, s.listTemplates)
	s.Handle("POST /api/v1/templates", auth.CampaignsSend, s.saveTemplate)
	s.Handle("POST /api/v1/templates/check", auth.CampaignsSend, s.checkTemplate)
	s.Handle("GET /api/v1/templates/{id}", auth.CampaignsSend, s.getTemplate)
	s.Handle("PUT /api/v1/templates/{id}", auth.CampaignsSend, s.saveTemplate)
	s.Handle("DELETE /api/v1/templates/{id}", auth.CampaignsSend, s.deleteTemplate)
	s.Handle("POST /api/v1/templates/{id}/preview", auth.CampaignsSend, s.previewTemplate)
	s.Handle("POST /api/v1/templates/{id}/test-send", auth.CampaignsSend, s.testSend)

	s.Handle("POST /api/v1/messages", auth.CampaignsSend, s.sendMessage)
	s.Handle("GET /api/v1/messages/stats", auth.ReportsRead, s.messageStats)
	s.Handle("GET /api/v1/messages/ab", auth.ReportsRead, s.abResults)
	s.Handle("GET /api/v1/messages/{id}", auth.CustomersRead, s.getMessage)
	s.Handle("GET /api/v1/customers/{id}/sends", auth.CustomersRead, s.customerSends)
	s.Handle("GET /api/v1/orders/{id}/attribution", auth.ReportsRead, s.orderAttribution)
	s.Handle("POST /api/v1/attribution/rebuild", auth.SettingsWrite, s.rebuildAttribution)

	s.Handle("GET /api/v1/suppressions", auth.CustomersRead, s.listSuppressions)
	s.Handle("POST /api/v1/suppressions", auth.CustomersWrite, s.addSuppression)
	s.Handle("DELETE /api/v1/suppressions/{channel}/{address}", auth.CustomersWrite, s.deleteSuppression)

	s.Handle("GET /api/v1/onsite/campaigns", auth.CampaignsSend, s.listOnsiteCampaigns)
	s.Handle("POST /api/v1/onsite/campaigns", auth.CampaignsSend, s.saveOnsiteCampaign)

	// Public: reached from messages and by providers. Each checks what it
	// is given: a signed link, a provider signature, a browser's keys.
	s.Public("GET /u/{token}", s.unsubscribePage)
	s.Public("POST /u/{token}", s.unsubscribePost)
	s.Public("GET /t/o/{token}", s.openPixel)
	s.Public("GET /t/c/{token}", s.clickRedirect)
	s.Public("POST /webhooks/sms/status", s.smsStatus)
	s.Public("POST /webhooks/sms/inbound", s.smsInbound)
	s.Public("GET /api/v1/onsite/messages", s.onsiteMessages)
	s.Public("GET /api/v1/push/key", s.pushKey)
	s.Public("POST /api/v1/push/subscriptions", s.pushSubscribe)
}

func (s *Server) channels() (*channel.Service, error) {
	if s.cfg.Channels == nil {
		return nil, errs.Errorf(errs.Unavailable, "channels are not running in this process")
	}
	return s.cfg.Channels, nil
}

func (s *Server) getChannelSettings(w http.ResponseWriter, r *http.Request) error {
	set, ready, err := s.ChannelSettings(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"settings": set, "footer_missing": set.FooterReady(), "channels_ready": ready})
}

// ChannelSettings returns the stored channel settings and which channels
// can send with them (the API's GET and the web UI).
func (s *Server) ChannelSettings(ctx context.Context) (*channel.Settings, map[string]bool, error) {
	set, err := channel.LoadSettings(ctx, s.cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	ready := map[string]bool{}
	if svc, err := s.channels(); err == nil {
		for _, ch := range []message.Channel{message.Email, message.LINE, message.SMS, message.Push, message.OnSite, message.Webhook, message.DM} {
			ready[string(ch)] = svc.HasSender(ch)
		}
	}
	return set, ready, nil
}

func (s *Server) putChannelSettings(w http.ResponseWriter, r *http.Request) error {
	var set channel.Settings
	if err := decodeJSON(w, r, &set); err != nil {
		return err
	}
	if err := s.SaveChannelSettings(r.Context(), &set); err != nil {
		return err
	}
	return JSON(w, map[string]any{"settings": set, "footer_missing": set.FooterReady()})
}

// SaveChannelSettings checks, stores and applies channel settings (the
// API's PUT and the web UI).
func (s *Server) SaveChannelSettings(ctx context.Context, set *channel.Settings) error {
	if err := set.Check(); err != nil {
		return err
	}
	b, _ := json.Marshal(set)
	if err := s.cfg.Store.SetSetting(ctx, channel.SettingsKey, string(b)); err != nil {
		return err
	}
	if s.cfg.ReloadChannels != nil {
		if err := s.cfg.ReloadChannels(ctx); err != nil {
			return errs.Errorf(errs.Invalid, "settings saved, but the channels could not start with them: %v", err)
		}
	}
	return nil
}

func (s *Server) emailDNS(w http.ResponseWriter, r *http.Request) error {
	records, checks, err := s.EmailDNS(r.Context(), r.URL.Query().Get("domain"), r.URL.Query().Get("spf_include"), r.URL.Query().Get("check") != "")
	if err != nil {
		return err
	}
	out := map[string]any{"records": records}
	if checks != nil {
		out["checks"] = checks
	}
	return JSON(w, out)
}

// EmailDNS returns the SPF, DKIM and DMARC records a sending domain needs
// (domain "" for the DKIM domain of the settings) and, when check is set,
// what its DNS holds now (the API and the web UI).
func (s *Server) EmailDNS(ctx context.Context, domain, spfInclude string, check bool) ([]email.Record, []email.Check, error) {
	set, err := channel.LoadSettings(ctx, s.cfg.Store)
	if err != nil {
		return nil, nil, err
	}
	if domain == "" {
		domain = set.Email.DKIMDomain
	}
	if domain == "" {
		return nil, nil, errs.FieldErrorf("domain", "required (or set email.dkim_domain)")
	}
	rec := ""
	if s.cfg.Secrets != nil {
		if key, ok, err := s.cfg.Secrets.Secret(ctx, channel.SecretDKIMKey); err != nil {
			return nil, nil, err
		} else if ok {
			if rec, err = email.DKIMRecord(key); err != nil {
				return nil, nil, err
			}
		}
	}
	var res email.Resolver = net.DefaultResolver
	if s.cfg.Resolver != nil {
		res = s.cfg.Resolver
	}
	records := email.Records(domain, set.Email.DKIMSelector, rec, spfInclude, "")
	if !check {
		return records, nil, nil
	}
	return records, email.CheckDomain(ctx, res, domain, set.Email.DKIMSelector, rec), nil
}

// emailBounce takes a bounce or complaint: a raw report (DSN or ARF, as
// message/rfc822) or JSON {kind, address, message_id, provider_id, reason}.
func (s *Server) emailBounce(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	var bounces []channel.Bounce
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var b channel.Bounce
		if err := decodeJSON(w, r, &b); err != nil {
			return err
		}
		bounces = append(bounces, b)
	} else {
		reps, err := email.ParseReport(http.MaxBytesReader(w, r.Body, 10<<20))
		if err != nil {
			return errs.Errorf(errs.Invalid, "%v", err)
		}
		for _, rep := range reps {
			bounces = append(bounces, channel.Bounce{Kind: rep.Kind, Address: rep.Address, ProviderID: rep.MessageID, Status: rep.Status, Reason: rep.Diagnosis})
		}
	}
	var out []*channel.BounceResult
	for _, b := range bounces {
		res, err := svc.HandleBounce(r.Context(), b)
		if err != nil {
			return err
		}
		if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
			res.Address = customer.MaskEmail(res.Address)
		}
		out = append(out, res)
	}
	return JSON(w, map[string]any{"results": out})
}

// audience is the customers a request names: a list, or a segment's members.
func (s *Server) audience(r *http.Request, ids []int64, segmentID int64) ([]int64, error) {
	if segmentID == 0 {
		return ids, nil
	}
	if s.cfg.Segments == nil {
		return nil, errs.Errorf(errs.Unavailable, "segments are not available in this build; give customer_ids")
	}
	return s.cfg.Segments.Members(r.Context(), segmentID)
}

func (s *Server) lineQuota(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.LINEQuota == nil {
		return errs.Errorf(errs.Unavailable, "LINE is not configured")
	}
	q, err := s.cfg.LINEQuota(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, q)
}

func (s *Server) lineAudience(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	var in struct {
		Description string  `json:"description"`
		CustomerIDs []int64 `json:"customer_ids"`
		SegmentID   int64   `json:"segment_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ids, err := s.audience(r, in.CustomerIDs, in.SegmentID)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return errs.FieldErrorf("customer_ids", "give customer_ids or segment_id")
	}
	id, n, err := svc.LINEAudience(r.Context(), in.Description, ids)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"audience_group_id": id, "users": n})
	return nil
}

func (s *Server) dmExport(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	var in struct {
		CustomerIDs []int64 `json:"customer_ids"`
		SegmentID   int64   `json:"segment_id"`
		TemplateID  int64   `json:"template_id"`
		Source      string  `json:"source"`
		Encoding    string  `json:"encoding"` // utf-8 (default) | shift_jis
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	ids, err := s.audience(r, in.CustomerIDs, in.SegmentID)
	if err != nil {
		return err
	}
	sjis := false
	switch strings.ToLower(in.Encoding) {
	case "", "utf-8", "utf8":
	case "shift_jis", "sjis", "cp932":
		sjis = true
	default:
		return errs.FieldErrorf("encoding", "utf-8 or shift_jis")
	}
	rows, _, err := svc.ExportDM(r.Context(), ids, in.TemplateID, in.Source)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := dm.WriteCSV(&buf, rows, sjis); err != nil {
		return err
	}
	charset := "utf-8"
	if sjis {
		charset = "shift_jis"
	}
	w.Header().Set("Content-Type", "text/csv; charset="+charset)
	w.Header().Set("Content-Disposition", `attachment; filename="dm-`+sanitizeFilename(in.Source)+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(buf.Bytes())
	return err
}

func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '-'
	}, s)
}

func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.Templates(r.Context())
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"templates": list, "merge_fields": content.FieldNames, "block_types": content.BlockTypes})
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	t, err := s.cfg.Store.Template(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, t)
}

// checkedTemplate decodes a template from the body and checks it against
// the sample customer (the save-time check).
func (s *Server) checkedTemplate(w http.ResponseWriter, r *http.Request) (*content.Template, error) {
	var t content.Template
	if err := decodeJSON(w, r, &t); err != nil {
		return nil, err
	}
	set, err := channel.LoadSettings(r.Context(), s.cfg.Store)
	if err != nil {
		return nil, err
	}
	if _, err := s.engine.Check(&t, set.Shop); err != nil {
		return nil, err
	}
	return &t, nil
}

func (s *Server) checkTemplate(w http.ResponseWriter, r *http.Request) error {
	t, err := s.checkedTemplate(w, r)
	if err != nil {
		return err
	}
	set, _ := channel.LoadSettings(r.Context(), s.cfg.Store)
	c, _ := s.engine.Compile(t)
	sample := content.SampleData(set.Shop)
	out := map[string]any{"ok": true}
	rendered := map[string]any{}
	for _, ch := range t.Channels() {
		o, err := c.Render(ch, &sample)
		if err != nil {
			return err
		}
		rendered[string(ch)] = o
	}
	out["sample"] = rendered
	return JSON(w, out)
}

func (s *Server) saveTemplate(w http.ResponseWriter, r *http.Request) error {
	t, err := s.checkedTemplate(w, r)
	if err != nil {
		return err
	}
	t.ID = 0
	if r.Method == http.MethodPut {
		if t.ID, err = pathID(r, "id"); err != nil {
			return err
		}
	}
	t.UpdatedBy = PrincipalFrom(r.Context()).Actor()
	if _, err := s.cfg.Store.SaveTemplate(r.Context(), t); err != nil {
		return err
	}
	saved, err := s.cfg.Store.Template(r.Context(), t.ID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status = http.StatusCreated
	}
	writeJSON(w, status, saved)
	return nil
}

func (s *Server) deleteTemplate(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteTemplate(r.Context(), id); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) previewTemplate(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		CustomerID int64           `json:"customer_id"`
		Channel    message.Channel `json:"channel"`
		Vars       map[string]any  `json:"vars"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CustomerID != 0 && !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		return errs.Errorf(errs.Forbidden, "previewing for a customer shows their personal data: pii:read is required")
	}
	if in.CustomerID == 0 {
		t, err := s.cfg.Store.Template(r.Context(), id)
		if err != nil {
			return err
		}
		set, _ := channel.LoadSettings(r.Context(), s.cfg.Store)
		c, err := s.engine.Compile(t)
		if err != nil {
			return err
		}
		d := content.SampleData(set.Shop)
		d.Vars = in.Vars
		o, err := c.Render(in.Channel, &d)
		if err != nil {
			return err
		}
		return JSON(w, o)
	}
	o, err := svc.Preview(r.Context(), id, in.CustomerID, in.Channel, in.Vars)
	if err != nil {
		return err
	}
	return JSON(w, o)
}

func (s *Server) testSend(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var in struct {
		Channel    message.Channel `json:"channel"`
		To         string          `json:"to"`
		CustomerID int64           `json:"customer_id"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.CustomerID != 0 && !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		return errs.Errorf(errs.Forbidden, "a test send with a customer's data needs pii:read")
	}
	res, err := svc.TestSend(r.Context(), id, in.CustomerID, in.Channel, in.To)
	if err != nil {
		return err
	}
	return JSON(w, res)
}

func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	var in struct {
		Key        string          `json:"key"`
		CustomerID int64           `json:"customer_id"`
		Channel    message.Channel `json:"channel"`
		Purpose    message.Purpose `json:"purpose"`
		TemplateID int64           `json:"template_id"`
		Source     string          `json:"source"`
		Vars       map[string]any  `json:"vars"`
		NotBefore  time.Time       `json:"not_before"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Source == "" {
		in.Source = "api"
	}
	out := svc.SendBatch(r.Context(), []message.Outgoing{{Key: in.Key, CustomerID: in.CustomerID, Channel: in.Channel, Purpose: in.Purpose,
		TemplateID: in.TemplateID, Source: in.Source, Vars: in.Vars, NotBefore: in.NotBefore}})[0]
	body := map[string]any{"key": out.Key, "message_id": out.MessageID, "status": out.Status, "provider_id": out.Result.ProviderID}
	var blocked *channel.BlockedError
	switch {
	case out.Err == nil:
		writeJSON(w, http.StatusAccepted, body)
		return nil
	case errors.Is(out.Err, channel.ErrDuplicate):
		body["error"] = map[string]any{"code": errs.Conflict, "message": "a message with this key was already sent"}
		writeJSON(w, http.StatusConflict, body)
		return nil
	case errors.As(out.Err, &blocked):
		body["error"] = map[string]any{"code": "blocked", "message": blocked.Error(), "reason": blocked.Reason}
		writeJSON(w, http.StatusUnprocessableEntity, body)
		return nil
	case errs.Code(out.Err) == errs.Invalid || errs.Code(out.Err) == errs.NotFound:
		return out.Err
	}
	body["error"] = map[string]any{"code": "delivery_failed", "message": out.Err.Error(), "permanent": message.IsPermanent(out.Err)}
	writeJSON(w, http.StatusBadGateway, body)
	return nil
}

func (s *Server) messageStats(w http.ResponseWriter, r *http.Request) error {
	st, err := s.cfg.Store.SendStats(r.Context(), r.URL.Query().Get("source"))
	if err != nil {
		return err
	}
	if st == nil {
		st = []channel.SourceStats{}
	}
	return JSON(w, map[string]any{"stats": st})
}

func (s *Server) abResults(w http.ResponseWriter, r *http.Request) error {
	src := r.URL.Query().Get("source")
	if src == "" {
		return errs.FieldErrorf("source", "the campaign's source prefix, e.g. campaign:7:variant:")
	}
	st, err := s.cfg.Store.SendStats(r.Context(), src)
	if err != nil {
		return err
	}
	return JSON(w, channel.CompareVariants(st))
}

func (s *Server) maskRecord(r *http.Request, rec *channel.Record) {
	if PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		return
	}
	switch rec.Channel {
	case message.Email:
		rec.Address = customer.MaskEmail(rec.Address)
	case message.SMS:
		rec.Address = customer.MaskPhone(rec.Address)
	case message.DM:
		rec.Address = "***"
	}
	rec.Vars = nil
}

func (s *Server) getMessage(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rec, err := s.cfg.Store.SendRecord(r.Context(), id)
	if err != nil {
		return err
	}
	s.maskRecord(r, rec)
	return JSON(w, rec)
}

func (s *Server) customerSends(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	list, err := s.cfg.Store.CustomerSends(r.Context(), id, limit)
	if err != nil {
		return err
	}
	for i := range list {
		s.maskRecord(r, &list[i])
	}
	return JSON(w, map[string]any{"messages": list})
}

func (s *Server) orderAttribution(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.cfg.Store.OrderAttribution(r.Context(), id)
	if err != nil {
		return err
	}
	return JSON(w, a)
}

func (s *Server) rebuildAttribution(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Since time.Time `json:"since"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Since.IsZero() {
		return errs.FieldErrorf("since", "required (RFC 3339)")
	}
	n, err := s.cfg.Store.ReattributeOrders(r.Context(), in.Since)
	if err != nil {
		return err
	}
	return JSON(w, map[string]int{"orders": n})
}

func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", 100)
	if err != nil {
		return err
	}
	offset, err := queryInt(r, "offset", 0)
	if err != nil {
		return err
	}
	ch := message.Channel(r.URL.Query().Get("channel"))
	if ch == "" {
		ch = message.Email
	}
	list, total, err := s.cfg.Store.Suppressions(r.Context(), ch, r.URL.Query().Get("reason"), limit, offset)
	if err != nil {
		return err
	}
	if !PrincipalFrom(r.Context()).Can(auth.PIIRead) {
		for i := range list {
			if list[i].Channel == message.Email {
				list[i].Address = customer.MaskEmail(list[i].Address)
			} else {
				list[i].Address = customer.MaskPhone(list[i].Address)
			}
		}
	}
	return JSON(w, map[string]any{"suppressions": list, "total": total})
}

func (s *Server) addSuppression(w http.ResponseWriter, r *http.Request) error {
	var in channel.Suppression
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.Channel == "" {
		in.Channel = message.Email
	}
	if in.Reason == "" {
		in.Reason = channel.SuppressManual
	}
	in.Actor, in.CreatedAt = PrincipalFrom(r.Context()).Actor(), time.Time{}
	changed, err := s.cfg.Store.Suppress(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]bool{"changed": changed})
	return nil
}

func (s *Server) deleteSuppression(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Store.Unsuppress(r.Context(), message.Channel(r.PathValue("channel")), r.PathValue("address")); err != nil {
		return err
	}
	return JSON(w, map[string]bool{"ok": true})
}

func (s *Server) listOnsiteCampaigns(w http.ResponseWriter, r *http.Request) error {
	list, err := s.cfg.Store.OnsiteCampaigns(r.Context(), time.Time{})
	if err != nil {
		return err
	}
	return JSON(w, map[string]any{"campaigns": list})
}

func (s *Server) saveOnsiteCampaign(w http.ResponseWriter, r *http.Request) error {
	var in channel.OnsiteCampaign
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	id, err := s.cfg.Store.SaveOnsiteCampaign(r.Context(), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"id": id})
	return nil
}

var pageTmpl = template.Must(template.New("u").Parse(`<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title>
<style>body{font-family:'Hiragino Sans','Noto Sans JP',Meiryo,sans-serif;max-width:560px;margin:48px auto;padding:0 16px;color:#333;line-height:1.8}
button{font-size:16px;padding:10px 28px;background:#c0392b;color:#fff;border:0;border-radius:4px;cursor:pointer}</style></head>
<body><h1 style="font-size:20px">{{.Title}}</h1><p>{{.Body}}</p>
{{if .Form}}<form method="post"><button type="submit">配信を停止する</button></form>{{end}}
{{if .Shop}}<p style="font-size:12px;color:#777">{{.Shop}}</p>{{end}}</body></html>`))

type pageData struct {
	Title, Body, Shop string
	Form              bool
}

func writePage(w http.ResponseWriter, status int, d pageData) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
	w.WriteHeader(status)
	return pageTmpl.Execute(w, d)
}

var channelNamesJA = map[message.Channel]string{message.Email: "メール", message.SMS: "SMS", message.LINE: "LINE", message.Push: "プッシュ通知", message.DM: "ダイレクトメール"}

func (s *Server) shopName(r *http.Request) string {
	set, err := channel.LoadSettings(r.Context(), s.cfg.Store)
	if err != nil {
		return ""
	}
	return set.Shop.Name
}

// unsubscribePage shows what the link unsubscribes from, with one button:
// a GET never unsubscribes, because mail scanners follow links.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	token := r.PathValue("token")
	if token == "test" || token == "preview" {
		return writePage(w, http.StatusOK, pageData{Title: "配信停止(テスト)", Body: "これはテスト送信・プレビューのリンクです。実際の配信では、ここからワンクリックで配信を停止できます。", Shop: s.shopName(r)})
	}
	svc, err := s.channels()
	if err != nil {
		return err
	}
	rec, err := svc.UnsubscribeTarget(r.Context(), token)
	if err != nil {
		return writePage(w, http.StatusNotFound, pageData{Title: "リンクが無効です", Body: "このリンクは無効です。メールのリンクが途中で切れていないかご確認ください。", Shop: s.shopName(r)})
	}
	if rec.UnsubscribedAt != nil {
		return writePage(w, http.StatusOK, pageData{Title: "配信を停止しました", Body: channelNamesJA[rec.Channel] + "の配信は停止済みです。", Shop: s.shopName(r)})
	}
	return writePage(w, http.StatusOK, pageData{Title: "配信停止", Body: channelNamesJA[rec.Channel] + "によるお知らせの配信を停止します。下のボタンを押すと、すぐに停止されます(ログインは不要です)。", Form: true, Shop: s.shopName(r)})
}

// unsubscribePost unsubscribes at once: the page's button, or a mail
// client's RFC 8058 one-click POST (body List-Unsubscribe=One-Click).
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	_ = r.ParseForm()
	via := "page"
	if r.PostForm.Get("List-Unsubscribe") == "One-Click" {
		via = "one-click"
	}
	rec, err := svc.Unsubscribe(r.Context(), r.PathValue("token"), via)
	if err != nil {
		if errs.Code(err) == errs.NotFound {
			return writePage(w, http.StatusNotFound, pageData{Title: "リンクが無効です", Body: "このリンクは無効です。", Shop: s.shopName(r)})
		}
		return err
	}
	return writePage(w, http.StatusOK, pageData{Title: "配信を停止しました", Body: channelNamesJA[rec.Channel] + "によるお知らせの配信を停止しました。ご利用ありがとうございました。", Shop: s.shopName(r)})
}

// gif is a transparent 1×1 GIF.
var gif = []byte{0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00,
	0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b}

// openPixel records an open and always answers the pixel, so that a bad
// or old link never shows a broken image.
func (s *Server) openPixel(w http.ResponseWriter, r *http.Request) error {
	if svc, err := s.channels(); err == nil {
		if err := svc.TrackOpen(r.Context(), r.PathValue("token"), net.ParseIP(clientIP(r)), r.UserAgent()); err != nil && errs.Code(err) != errs.NotFound {
			s.cfg.Log.Error("record open", "err", err)
		}
	}
	w.Header().Set("Content-Type", "image/gif")
	w.Header().Set("Cache-Control", "no-store, max-age=0")
	_, err := w.Write(gif)
	return err
}

// clickRedirect records a click and redirects to the signed target only.
func (s *Server) clickRedirect(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	target, err := svc.TrackClick(r.Context(), r.PathValue("token"), net.ParseIP(clientIP(r)), r.UserAgent())
	if err != nil {
		if errs.Code(err) == errs.NotFound {
			return writePage(w, http.StatusNotFound, pageData{Title: "リンクが無効です", Body: "このリンクは無効です。"})
		}
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// twilioParams reads a Twilio callback and verifies X-Twilio-Signature
// over the public URL it was sent to.
func (s *Server) twilioParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, errs.Errorf(errs.Invalid, "bad form body")
	}
	set, err := channel.LoadSettings(r.Context(), s.cfg.Store)
	if err != nil {
		return nil, err
	}
	var token string
	if s.cfg.Secrets != nil {
		token, _, err = s.cfg.Secrets.Secret(r.Context(), channel.SecretTwilioAuthToken)
		if err != nil {
			return nil, err
		}
	}
	full := strings.TrimRight(set.BaseURL, "/") + r.URL.RequestURI()
	if err := sms.Verify(token, full, r.PostForm, r.Header.Get("X-Twilio-Signature")); err != nil {
		return nil, errs.Errorf(errs.Forbidden, "invalid X-Twilio-Signature")
	}
	return r.PostForm, nil
}

func (s *Server) smsStatus(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	p, err := s.twilioParams(w, r)
	if err != nil {
		return err
	}
	status := p.Get("MessageStatus")
	if status == "" {
		status = p.Get("SmsStatus")
	}
	err = svc.HandleDeliveryStatus(r.Context(), channel.DeliveryStatus{Provider: "twilio", ProviderID: p.Get("MessageSid"), Status: status,
		ErrorCode: p.Get("ErrorCode"), To: p.Get("To")})
	if err != nil && errs.Code(err) != errs.NotFound {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) smsInbound(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	p, err := s.twilioParams(w, r)
	if err != nil {
		return err
	}
	if _, err := svc.InboundSMS(r.Context(), p.Get("From"), p.Get("Body")); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, err = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
	return err
}

// onsiteMessages is polled by the JS tag (any origin: the shop's site).
func (s *Server) onsiteMessages(w http.ResponseWriter, r *http.Request) error {
	svc, err := s.channels()
	if err != nil {
		return err
	}
	anon := r.URL.Query().Get("anonymous_id")
	if len(anon) > 128 {
		return errs.FieldErrorf("anonymous_id", "too long")
	}
	msgs, err := svc.Onsite(r.Context(), anon)
	if err != nil {
		return err
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	return JSON(w, map[string]any{"messages": msgs})
}

func (s *Server) pushKey(w http.ResponseWriter, r *http.Request) error {
	set, err := channel.LoadSettings(r.Context(), s.cfg.Store)
	if err != nil {
		return err
	}
	if set.Push.VAPIDPublicKey == "" {
		return errs.Errorf(errs.NotFound, "web push is not configured")
	}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	return JSON(w, map[string]string{"public_key": set.Push.VAPIDPublicKey})
}

// pushSubscribe stores a browser's push subscription (from the shop's
// site, after the visitor allowed notifications).
func (s *Server) pushSubscribe(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	var in struct {
		AnonymousID  string `json:"anonymous_id"`
		Subscription struct {
			Endpoint string `json:"endpoint"`
			Keys     struct {
				P256dh string `json:"p256dh"`
				Auth   string `json:"auth"`
			} `json:"keys"`
			ExpirationTime *int64 `json:"expirationTime"`
		} `json:"subscription"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	if len(in.Subscription.Endpoint) > 1024 || len(in.AnonymousID) > 128 {
		return errs.Errorf(errs.Invalid, "subscription too large")
	}
	id, err := s.cfg.Store.SavePushSubscription(r.Context(), channel.PushSubscription{AnonymousID: in.AnonymousID, Endpoint: in.Subscription.Endpoint,
		P256dh: in.Subscription.Keys.P256dh, Auth: in.Subscription.Keys.Auth, UserAgent: truncate(r.UserAgent(), 256)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": strconv.FormatInt(id, 10)})
	return nil
}
