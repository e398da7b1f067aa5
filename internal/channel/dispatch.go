package channel

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// StatusSkipped is the Result.Status Dispatch returns for a message it
// deliberately did not send (no consent, suppressed, no address): the
// journeys outbox records it as skipped rather than failed.
const StatusSkipped = "skipped"

// Dispatch delivers one message for the journeys and campaigns outbox
// (its Dispatcher interface): Send, with the outbox's conventions — a
// compliance stop is Result{Status: "skipped"} and no error; a key already
// sent returns that send's result without sending again; a send waiting
// for its retry or still in flight is a transient error, so the outbox
// asks again later.
func (s *Service) Dispatch(ctx context.Context, m message.Outgoing) (message.Result, error) {
	res, err := s.Send(ctx, m)
	var be *BlockedError
	switch {
	case err == nil:
		return res, nil
	case errors.As(err, &be):
		return message.Result{Status: StatusSkipped, ProviderID: be.Reason}, nil
	case errors.Is(err, ErrDuplicate):
		rec, rerr := s.cfg.Store.SendRecordByKey(ctx, m.Key)
		if rerr != nil {
			return message.Result{}, rerr
		}
		switch rec.Status {
		case StatusSent, StatusDelivered, StatusBounced:
			return message.Result{ProviderID: rec.ProviderID, Status: StatusSent}, nil
		case StatusBlocked:
			return message.Result{Status: StatusSkipped, ProviderID: rec.Error}, nil
		case StatusFailed, StatusUnknown:
			return message.Result{}, message.Permanent(fmt.Errorf("message %s: %s", m.Key, rec.Error))
		}
		return message.Result{}, fmt.Errorf("message %s is %s; it goes when due", m.Key, rec.Status)
	}
	return res, err
}

// inlineTemplateBase marks template ids made from inline content (they
// are never stored; the id is a hash of the content).
const inlineTemplateBase = int64(1) << 62

// inline makes a one-variant template from Vars["content"] ({subject,
// text, html}), for journey steps and campaigns written without a stored
// template.
func inline(ch message.Channel, purpose message.Purpose, vars map[string]any) (*content.Template, error) {
	raw, ok := vars["content"]
	if !ok {
		return nil, invalid("template_id", "required (or inline content in vars.content)")
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	var c struct {
		Subject string `json:"subject"`
		Text    string `json:"text"`
		HTML    string `json:"html"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, invalid("vars.content", "must be {subject, text, html}")
	}
	v := content.Variant{Channel: ch, Subject: c.Subject, Text: c.Text, HTML: c.HTML}
	switch ch {
	case message.LINE:
		v = content.Variant{Channel: ch, LINE: []content.LINEMessage{{Type: content.LINEText, Text: c.Text}}}
	case message.Webhook:
		p, _ := json.Marshal(map[string]string{"subject": c.Subject, "text": c.Text})
		v = content.Variant{Channel: ch, Payload: p}
	}
	sum := sha256.Sum256(append([]byte(string(ch)+string(purpose)), b...))
	id := inlineTemplateBase | int64(uint64(sum[0])<<40|uint64(sum[1])<<32|uint64(sum[2])<<24|uint64(sum[3])<<16|uint64(sum[4])<<8|uint64(sum[5]))
	return &content.Template{ID: id, Name: "inline " + hex.EncodeToString(sum[:4]), Purpose: purpose, Variants: []content.Variant{v}, Version: 1}, nil
}

// compileInline compiles (and caches) inline content.
func (s *Service) compileInline(t *content.Template) (*content.Compiled, error) {
	s.mu.Lock()
	ct := s.templates[t.ID]
	s.mu.Unlock()
	if ct != nil {
		return ct.c, nil
	}
	c, err := s.cfg.Engine.Compile(t)
	if err != nil {
		return nil, errs.Errorf(errs.Invalid, "inline content: %v", err)
	}
	s.mu.Lock()
	s.templates[t.ID] = &cachedTemplate{version: 1, c: c}
	s.mu.Unlock()
	return c, nil
}
