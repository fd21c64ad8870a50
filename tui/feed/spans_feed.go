package feed

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/sagascope/sagascope/demo/contract"
)

// Sources of the telemetry feed, as named in its problems.
const (
	SourceSpans = "spans"
	SourceLogs  = "logs"
)

// TelemetryOptions configure a Telemetry feed. The zero value is usable.
type TelemetryOptions struct {
	// FrameEvery bounds how often a snapshot is sent (default 100ms).
	FrameEvery time.Duration
	// ReadEvery is how often the span stream is read (default 500ms).
	ReadEvery time.Duration
	// MaxBatches bounds the span batches one read passes on (default
	// 2,000); when more were stored since the previous read, the oldest
	// are skipped.
	MaxBatches int
	// History is how far back spans are read on attach (default 3m; the
	// stream keeps contract.TelemetryMaxAge).
	History time.Duration
	// MaxSpans and MaxTraces bound the spans kept (default 10,000 in at
	// most 2,000 traces); over either, the oldest traces go whole.
	MaxSpans  int
	MaxTraces int
	// MaxLogs bounds the log lines kept (default 2,000).
	MaxLogs int
	// RequestTimeout bounds each JetStream API request (default 5s).
	RequestTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (o TelemetryOptions) withDefaults() TelemetryOptions {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.FrameEvery, 100*time.Millisecond)
	def(&o.ReadEvery, 500*time.Millisecond)
	def(&o.History, 3*time.Minute)
	def(&o.RequestTimeout, 5*time.Second)
	o.MaxSpans = positiveOr(o.MaxSpans, 10_000)
	o.MaxTraces = positiveOr(o.MaxTraces, 2_000)
	o.MaxLogs = positiveOr(o.MaxLogs, 2_000)
	o.MaxBatches = positiveOr(o.MaxBatches, 2_000)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func positiveOr(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// TelemetrySnapshot is the traces and logs at one moment. Its slices and
// everything they point to are never modified: views keep them freely.
type TelemetrySnapshot struct {
	Time time.Time `json:"time"`
	// Traces are the recent traces, the one that started last first.
	Traces []*Trace `json:"traces"`
	// Spans is how many spans the traces hold.
	Spans int `json:"spans"`
	// Logs are the recent log lines, newest first, as they arrived.
	Logs []*LogLine `json:"logs"`
	// Reading is true once contract.TelemetryStream is being read; spans
	// from Since on were read back when it was found.
	Reading bool            `json:"reading"`
	Since   time.Time       `json:"since"`
	Counts  TelemetryCounts `json:"counts"`
	// Problems are sources that cannot be read and undecodable messages,
	// each with the latest error.
	Problems []Problem `json:"problems,omitempty"`
}

// TelemetryCounts count what the feed received since it started.
type TelemetryCounts struct {
	Batches          uint64 `json:"batches"`
	MalformedBatches uint64 `json:"malformed_batches"`
	// InvalidSpans are spans without valid ids, skipped.
	InvalidSpans  uint64 `json:"invalid_spans"`
	EvictedTraces uint64 `json:"evicted_traces"`
	Logs          uint64 `json:"logs"`
	MalformedLogs uint64 `json:"malformed_logs"`
}

// Telemetry follows the spans and logs the services publish: span batches
// from contract.TelemetryStream (its last History on attach, then live),
// log lines from contract.LogSubjects (live: they are not stored). Messages
// are decoded and sanitized on the goroutines that receive them, never by
// the caller of Run's send. Create it with NewTelemetry and start it with
// Run; it does not own the connection.
type Telemetry struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts TelemetryOptions

	mu       sync.Mutex
	changed  bool
	traces   *traceStore
	logs     *ring[*LogLine]
	logCache []*LogLine
	counts   TelemetryCounts
	reading  bool
	since    time.Time
	problems map[string]Problem
}

// NewTelemetry returns a telemetry feed reading through nc.
func NewTelemetry(nc *nats.Conn, opts TelemetryOptions) (*Telemetry, error) {
	opts = opts.withDefaults()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("telemetry feed: %w", err)
	}
	return &Telemetry{
		nc: nc, js: js, opts: opts,
		traces:   newTraceStore(opts.MaxSpans, opts.MaxTraces),
		logs:     newRing[*LogLine](opts.MaxLogs),
		problems: map[string]Problem{},
	}, nil
}

// Run follows spans and logs until ctx ends, calling send with a snapshot
// when something changed, at most once per FrameEvery and at least once a
// second. send is called from one goroutine and may block. Run returns when
// every goroutine it started has stopped; the only error is a subscription
// the connection refuses at start.
func (t *Telemetry) Run(ctx context.Context, send func(TelemetrySnapshot)) error {
	sub, err := t.nc.Subscribe(contract.LogSubjects, func(m *nats.Msg) { t.recordLog(m.Subject, m.Data) })
	if err != nil {
		return fmt.Errorf("follow logs on %s: %w", contract.LogSubjects, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { t.followSpans(ctx); return nil })
	g.Go(func() error { t.frames(ctx, send); return nil })
	return g.Wait()
}

// Snapshot returns the traces and logs now.
func (t *Telemetry) Snapshot() TelemetrySnapshot {
	t.mu.Lock()
	defer t.mu.Unlock()
	snap := TelemetrySnapshot{
		Time: t.opts.Now(), Traces: t.traces.traces(), Spans: t.traces.spans,
		Reading: t.reading, Since: t.since, Counts: t.counts,
	}
	snap.Counts.EvictedTraces = t.traces.evicted
	if t.logCache == nil {
		t.logCache = t.logs.newestFirst()
	}
	snap.Logs = t.logCache
	for _, p := range t.problems {
		snap.Problems = append(snap.Problems, p)
	}
	sortProblems(snap.Problems)
	return snap
}

func (t *Telemetry) frames(ctx context.Context, send func(TelemetrySnapshot)) {
	tick := time.NewTicker(t.opts.FrameEvery)
	defer tick.Stop()
	var sent time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		changed := t.changed
		t.changed = false
		t.mu.Unlock()
		if now := t.opts.Now(); changed || now.Sub(sent) >= time.Second {
			sent = now
			send(t.Snapshot())
		}
	}
}

// maxSpanReadBytes bounds the bytes of one read of the span stream: a
// saturated system stores megabytes of spans a second.
const maxSpanReadBytes = 32 << 20

// followSpans reads the span stream every ReadEvery until ctx ends: on
// attach the batches stored in the last History, then those stored since
// the previous read. A server without the stream is looked at again on the
// next read.
func (t *Telemetry) followSpans(ctx context.Context) {
	since := t.opts.Now().Add(-t.opts.History)
	spans := &tail{
		js: t.js, stream: contract.TelemetryStream, since: since,
		keep: t.opts.MaxBatches, maxBytes: maxSpanReadBytes,
	}
	tick := time.NewTicker(t.opts.ReadEvery)
	defer tick.Stop()
	// failing is whether the previous read failed: a good read clears
	// that problem, not one a malformed batch reported.
	failing := false
	for {
		rctx, cancel := context.WithTimeout(ctx, t.opts.RequestTimeout)
		first, err := spans.read(rctx, func(m *jetstream.RawStreamMsg) {
			t.recordBatch(m.Header.Get(contract.ContentTypeHeader), m.Data)
		})
		cancel()
		if first {
			t.mu.Lock()
			t.reading, t.since, t.changed = true, since, true
			t.mu.Unlock()
		}
		if errors.Is(err, errAbsent) {
			err = nil
		}
		if ctx.Err() == nil && (err != nil || failing) {
			t.problem(SourceSpans, err)
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// errNotProtobuf rejects a span batch in another encoding (OTLP JSON).
var errNotProtobuf = errors.New("not " + contract.SpanContentType)

// recordBatch decodes a span batch, outside the lock, and stores it.
func (t *Telemetry) recordBatch(contentType string, data []byte) {
	var spans []*Span
	var invalid int
	err := fmt.Errorf("span batch of content type %q: %w", contentType, errNotProtobuf)
	if contentType == "" || contentType == contract.SpanContentType {
		spans, invalid, err = decodeSpans(data)
	}
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts.Batches++
	t.counts.InvalidSpans += uint64(invalid)
	t.changed = true
	if err != nil {
		t.counts.MalformedBatches++
		t.setProblem(SourceSpans, err, now)
		return
	}
	t.setProblem(SourceSpans, nil, now)
	for _, s := range spans {
		t.traces.add(s, now)
	}
}

func (t *Telemetry) recordLog(subject string, data []byte) {
	l, err := decodeLog(subject, data)
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.counts.Logs++
	t.changed = true
	if err != nil {
		t.counts.MalformedLogs++
		t.setProblem(SourceLogs, err, now)
		return
	}
	t.setProblem(SourceLogs, nil, now)
	l.Seq = t.counts.Logs
	t.logs.push(l)
	t.logCache = nil
}

func (t *Telemetry) problem(source string, err error) {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.setProblem(source, err, now)
}

// setProblem records (err != nil) or clears (err == nil) a source's
// problem; t.mu is held.
func (t *Telemetry) setProblem(source string, err error, now time.Time) {
	p, had := t.problems[source]
	switch {
	case err == nil && had:
		delete(t.problems, source)
		t.changed = true
	case err != nil:
		if !had {
			p.Since = now
		}
		p.Source, p.Error = source, err.Error()
		t.problems[source] = p
		t.changed = true
	}
}
