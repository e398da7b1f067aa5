package channel

import (
	"context"
	"fmt"
	"strings"

	"github.com/enishi-crm/enishi/internal/channel/dm"
	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
	"github.com/enishi-crm/enishi/internal/tracking"
)

// OnsiteMessage is what the JS tag shows.
type OnsiteMessage struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	HTML     string `json:"html,omitempty"`
	URL      string `json:"url,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
}

// Onsite returns the on-site messages for a visitor (by the JS tag's
// anonymous id): messages sent to the customer the id is linked to, then
// the active on-site campaigns whose audience the visitor is in. Sent
// messages count as delivered once returned.
func (s *Service) Onsite(ctx context.Context, anonymousID string) ([]OnsiteMessage, error) {
	out := []OnsiteMessage{}
	var cust int64
	if anonymousID != "" {
		id, err := s.cfg.Store.CustomerByAnonymousID(ctx, anonymousID)
		if err != nil && errs.Code(err) != errs.NotFound {
			return nil, err
		}
		cust = id
	}
	set, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Clock.Now()
	var r *Recipient
	if cust != 0 {
		rs, err := s.cfg.Store.Recipients(ctx, message.OnSite, []int64{cust})
		if err != nil {
			return nil, err
		}
		r = rs[cust]
	}
	render := func(templateID, messageID int64, vars map[string]any) (*OnsiteMessage, error) {
		c, err := s.compiled(ctx, templateID)
		if err != nil {
			return nil, err
		}
		d := content.Data{Shop: set.Shop}
		if r != nil {
			if d, err = s.mergeData(ctx, set, r, vars, now, c); err != nil {
				return nil, err
			}
		}
		o, err := c.Render(message.OnSite, &d)
		if err != nil {
			return nil, err
		}
		m := &OnsiteMessage{ID: fmt.Sprintf("c%d", templateID), Title: o.Subject, Text: o.Text, HTML: o.HTML, URL: o.URL, ImageURL: o.ImageURL}
		if messageID > 0 && set.BaseURL != "" {
			rw := tracking.Rewriter{Links: tracking.Links{Base: set.BaseURL, Signer: s.signer}, MessageID: messageID, UTMHosts: set.UTMHosts,
				UTM: tracking.UTM{Source: "enishi", Medium: "onsite"}}
			m.ID, m.URL, m.Text = s.signer.Token(tracking.KindOpen, messageID, ""), rw.Text(m.URL), rw.Text(m.Text)
		}
		return m, nil
	}
	if r != nil {
		pending, err := s.cfg.Store.PendingOnsite(ctx, r.Customer.ID, 5)
		if err != nil {
			return nil, err
		}
		for _, p := range pending {
			m, err := render(p.TemplateID, p.ID, p.Outgoing().Vars)
			if err != nil {
				s.cfg.Log.Error("render on-site message", "message", p.ID, "err", err)
				continue
			}
			if _, err := s.cfg.Store.AddSendEvent(ctx, Event{MessageID: p.ID, Kind: EventShown, At: now}); err != nil {
				return nil, err
			}
			out = append(out, *m)
		}
	}
	camps, err := s.cfg.Store.OnsiteCampaigns(ctx, now)
	if err != nil {
		return nil, err
	}
	for _, c := range camps {
		switch {
		case c.Audience == "identified" && r == nil, c.Audience == "anonymous" && r != nil:
			continue
		case c.SegmentID != 0:
			if r == nil || s.cfg.Segments == nil {
				continue
			}
			in, err := s.cfg.Segments.InSegment(ctx, c.SegmentID, r.Customer.ID)
			if err != nil {
				return nil, err
			}
			if !in {
				continue
			}
		}
		m, err := render(c.TemplateID, 0, nil)
		if err != nil {
			s.cfg.Log.Error("render on-site campaign", "campaign", c.ID, "err", err)
			continue
		}
		m.ID = fmt.Sprintf("campaign-%d", c.ID)
		out = append(out, *m)
	}
	return out, nil
}

// ExportDM records a direct-mail send (key "dm:SOURCE:customer:ID") to
// each customer with a complete postal address who has not opted out, and
// returns their address rows; a repeated export of the same source
// returns no one twice.
func (s *Service) ExportDM(ctx context.Context, customerIDs []int64, templateID int64, source string) ([]dm.Row, []Outcome, error) {
	if strings.TrimSpace(source) == "" {
		return nil, nil, errs.FieldErrorf("source", "name the mailing (e.g. campaign:12) so that it is recorded once per customer")
	}
	batch := make([]message.Outgoing, len(customerIDs))
	for i, id := range customerIDs {
		batch[i] = message.Outgoing{Key: fmt.Sprintf("dm:%s:customer:%d", source, id), CustomerID: id, Channel: message.DM,
			Purpose: message.Marketing, TemplateID: templateID, Source: source}
	}
	outs := s.SendBatch(ctx, batch)
	var ids []int64
	for i, o := range outs {
		if o.Err == nil && o.Status == StatusSent {
			ids = append(ids, customerIDs[i])
		}
	}
	rs, err := s.cfg.Store.Recipients(ctx, message.DM, ids)
	if err != nil {
		return nil, outs, err
	}
	rows := make([]dm.Row, 0, len(ids))
	for _, id := range ids {
		r := rs[id]
		if r == nil {
			continue
		}
		c := &r.Customer
		rows = append(rows, dm.Row{CustomerID: c.ID, Name: content.HonorificName(c.LastName, c.FirstName), PostalCode: c.PostalCode,
			Prefecture: c.Prefecture, City: c.City, Address1: c.Address1, Address2: c.Address2})
	}
	return rows, outs, nil
}

// LINEAudience uploads the LINE user ids of the given customers who may
// receive LINE marketing as an audience, for a narrowcast of a segment,
// and returns its id and size.
func (s *Service) LINEAudience(ctx context.Context, description string, customerIDs []int64) (int64, int, error) {
	s.smu.RLock()
	up := s.cfg.Audiences
	s.smu.RUnlock()
	if up == nil {
		return 0, 0, errs.Errorf(errs.Invalid, "LINE is not configured (secret %s)", SecretLINEToken)
	}
	rs, err := s.cfg.Store.Recipients(ctx, message.LINE, customerIDs)
	if err != nil {
		return 0, 0, err
	}
	var addrs []string
	for _, r := range rs {
		if r.LINEUserID != "" {
			addrs = append(addrs, r.LINEUserID)
		}
	}
	supp, err := s.cfg.Store.Suppressed(ctx, message.LINE, addrs)
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	var ids []string
	for _, r := range rs {
		if Eligibility(message.LINE, message.Marketing, r.Consent, r.LINEUserID, supp[r.LINEUserID]) == "" && !seen[r.LINEUserID] {
			seen[r.LINEUserID] = true
			ids = append(ids, r.LINEUserID)
		}
	}
	if len(ids) == 0 {
		return 0, 0, errs.Errorf(errs.Invalid, "none of the %d customers can receive LINE messages", len(customerIDs))
	}
	id, err := up.CreateAudience(ctx, description, ids)
	return id, len(ids), err
}
