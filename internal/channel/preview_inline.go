package channel

import (
	"context"

	"github.com/enishi-crm/enishi/internal/content"
	"github.com/enishi-crm/enishi/internal/message"
)

// PreviewInline renders inline content (vars["content"], as journey steps
// and campaign variants without a stored template carry it) for a
// customer as it would be sent, without tracking: Preview for messages
// that have no template id.
func (s *Service) PreviewInline(ctx context.Context, customerID int64, ch message.Channel, purpose message.Purpose, vars map[string]any) (*content.Output, error) {
	t, err := inline(ch, purpose, vars)
	if err != nil {
		return nil, err
	}
	c, err := s.compileInline(t)
	if err != nil {
		return nil, err
	}
	return s.previewFor(ctx, c, customerID, ch, vars)
}
