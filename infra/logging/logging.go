// Package logging builds the services' log/slog loggers. Every line written
// with a context names the correlation id that context carries, so one grep
// follows an upload from its HTTP request through every message handler.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/baum-store/baum/messages"
)

// Config configures a logger.
type Config struct {
	// Level is debug, info, warn or error. Default info.
	Level string
	// Format is json or text. Default json.
	Format string
}

// ParseLevel parses a level name.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q is not debug, info, warn or error", s)
	}
	return l, nil
}

// Validate reports every bad field.
func (c Config) Validate() error {
	if c.Level != "" {
		if _, err := ParseLevel(c.Level); err != nil {
			return err
		}
	}
	switch strings.ToLower(c.Format) {
	case "", "json", "text":
		return nil
	}
	return fmt.Errorf("log format %q is not json or text", c.Format)
}

// New returns a logger writing to w with attrs on every line.
func New(w io.Writer, config Config, attrs ...slog.Attr) (*slog.Logger, error) {
	if err := config.Validate(); err != nil {
		return nil, err
	}
	level := slog.LevelInfo
	if config.Level != "" {
		level, _ = ParseLevel(config.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if strings.EqualFold(config.Format, "text") {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(contextHandler{h.WithAttrs(attrs)}), nil
}

// contextHandler adds the context's correlation id to each record.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := messages.CorrelationIDFromContext(ctx); id != "" {
		r.AddAttrs(slog.String("correlation_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}
