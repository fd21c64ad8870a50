// Package logging builds the log/slog handlers every sagascope process
// logs through: text or JSON on stderr, each record carrying the trace id,
// span id and saga id of the context it was logged with, and a shipper that
// publishes warnings (and a sample of info) over NATS for the dashboard,
// rate-limited so a log storm cannot flood the bus.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Attribute keys added from the context.
const (
	TraceIDKey = "trace_id"
	SpanIDKey  = "span_id"
	SagaIDKey  = "saga_id"
)

// Format is how records are written.
type Format string

// Formats.
const (
	Text Format = "text" // slog's key=value text, the default
	JSON Format = "json" // one JSON object per line
)

// ParseFormat checks a --log-format value; "" means Text.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case "", Text:
		return Text, nil
	case JSON:
		return JSON, nil
	}
	return "", fmt.Errorf("log format %q: want text or json", s)
}

// Options configures New.
type Options struct {
	Format Format       // default Text
	Level  slog.Leveler // default slog.LevelInfo
}

// New returns a logger writing to w in opts.Format, whose records carry
// trace_id, span_id and saga_id from the context they are logged with
// (use the *Context methods: log.WarnContext(ctx, ...)).
func New(w io.Writer, opts Options) (*slog.Logger, error) {
	ho := &slog.HandlerOptions{Level: opts.Level}
	var h slog.Handler
	switch opts.Format {
	case "", Text:
		h = slog.NewTextHandler(w, ho)
	case JSON:
		h = slog.NewJSONHandler(w, ho)
	default:
		return nil, fmt.Errorf("new logger: log format %q: want text or json", opts.Format)
	}
	return slog.New(WithContext(h)), nil
}

type sagaKey struct{}

// ContextWithSaga returns ctx marked as handling saga id, so records logged
// with it carry saga_id.
func ContextWithSaga(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, sagaKey{}, id)
}

// SagaFromContext returns the saga id ctx was marked with, or "".
func SagaFromContext(ctx context.Context) string {
	id, _ := ctx.Value(sagaKey{}).(string)
	return id
}

// contextHandler adds trace_id, span_id and saga_id from the context, at
// the top level of the record even when the logger has opened groups:
// groups opened through it are kept here and applied to the record's own
// attributes, so the ids never end up as "group.trace_id".
type contextHandler struct {
	next slog.Handler // with every attribute added before the first group
	// groups are the groups opened since, each with the attributes added
	// inside it.
	groups []group
	// hasSaga is true once WithAttrs added a saga_id of its own.
	hasSaga bool
}

type group struct {
	name  string
	attrs []slog.Attr
}

// WithContext wraps h so that every record logged with a context holding a
// span carries its trace_id and span_id, and one marked by ContextWithSaga
// its saga_id (unless the record or logger already names one).
func WithContext(h slog.Handler) slog.Handler {
	if c, ok := h.(*contextHandler); ok {
		return c
	}
	return &contextHandler{next: h}
}

func (h *contextHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	saga := ""
	if !h.hasSaga {
		saga = SagaFromContext(ctx)
		if saga != "" && len(h.groups) == 0 && recordHas(r, SagaIDKey) {
			saga = ""
		}
	}
	if len(h.groups) > 0 {
		r = h.nest(r)
	} else if sc.IsValid() || saga != "" {
		// Clone so appending cannot touch a record another handler holds.
		r = r.Clone()
	}
	if sc.IsValid() {
		r.AddAttrs(slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
	}
	if saga != "" {
		r.AddAttrs(slog.String(SagaIDKey, saga))
	}
	return h.next.Handle(ctx, r)
}

// nest returns r with its attributes inside the open groups.
func (h *contextHandler) nest(r slog.Record) slog.Record {
	inner := make([]slog.Attr, 0, r.NumAttrs()+len(h.groups[len(h.groups)-1].attrs))
	inner = append(inner, h.groups[len(h.groups)-1].attrs...)
	r.Attrs(func(a slog.Attr) bool {
		inner = append(inner, a)
		return true
	})
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := slog.Attr{Key: h.groups[i].name, Value: slog.GroupValue(inner...)}
		if i > 0 {
			inner = append(append([]slog.Attr{}, h.groups[i-1].attrs...), g)
			continue
		}
		inner = []slog.Attr{g}
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(inner...)
	return out
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.groups) > 0 {
		groups := append([]group(nil), h.groups...)
		last := &groups[len(groups)-1]
		last.attrs = append(append([]slog.Attr(nil), last.attrs...), attrs...)
		return &contextHandler{next: h.next, groups: groups, hasSaga: h.hasSaga}
	}
	has := h.hasSaga
	for _, a := range attrs {
		has = has || a.Key == SagaIDKey
	}
	return &contextHandler{next: h.next.WithAttrs(attrs), hasSaga: has}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	groups := append(append([]group(nil), h.groups...), group{name: name})
	return &contextHandler{next: h.next, groups: groups, hasSaga: h.hasSaga}
}

func recordHas(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}
