package channel

import (
	"context"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

// PreviewInline renders inline content (vars["content"], as journey steps
// and campaign variants without a stored template carry it) for a
// customer as it would be sent, without tracking: Preview for messages
// that have no template id.
func (s *Service) PreviewInline(ctx context.Context, customerID int64, ch message.Channel, purpose message.Purpose, vars map[string]any) (*content.Output, error) {
	set, err := s.Settings(ctx)
	if err != nil {
		return nil, err
	}
	t, err := inline(ch, purpose, vars)
	if err != nil {
		return nil, err
	}
	c, err := s.compileInline(t)
	if err != nil {
		return nil, err
	}
	rs, err := s.cfg.Store.Recipients(ctx, ch, []int64{customerID})
	if err != nil {
		return nil, err
	}
	r := rs[customerID]
	if r == nil {
		return nil, errs.Errorf(errs.NotFound, "customer %d not found", customerID)
	}
	d, err := s.mergeData(ctx, set, r, vars, s.cfg.Clock.Now(), c)
	if err != nil {
		return nil, err
	}
	d.Footer = purpose == message.Marketing
	if set.BaseURL != "" {
		d.UnsubscribeURL = set.BaseURL + "/u/preview"
	}
	return c.Render(ch, &d)
}
