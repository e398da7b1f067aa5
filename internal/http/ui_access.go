package http

import (
	"github.com/enishi-crm/enishi/internal/channel"
	"github.com/enishi-crm/enishi/internal/outbox"
)

// Channels is the channel service the API sends with (nil when channels
// are not running in this process), for the web UI's previews and tests.
func (s *Server) Channels() *channel.Service { return s.cfg.Channels }

// Dispatcher is what sends campaign test messages (nil when none is
// configured), for the web UI.
func (s *Server) Dispatcher() outbox.Dispatcher { return s.cfg.Dispatcher }
