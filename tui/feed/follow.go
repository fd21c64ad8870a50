package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// errAbsent reports a source that does not exist on this server (yet): a
// NATS system without sagascope has no saga bucket. It is not a problem;
// the follower tries again on the next refresh.
var errAbsent = errors.New("absent")

// follow reads the saga bucket, the advisories and the dead letters once
// per refresh until ctx ends. A source that does not exist yet (a NATS
// system without sagascope has no saga bucket) is not a problem: it is
// looked for again on the next refresh.
func (f *Feed) follow(ctx context.Context) {
	sagas := f.newSagaSampler()
	advs := f.newAdvisoryReader()
	defer advs.stop()
	dead := &tail{js: f.js, stream: contract.DeadLetterStream, backfill: f.opts.RecentEvents, keep: f.opts.RecentEvents}
	t := time.NewTicker(f.opts.RefreshEvery)
	defer t.Stop()
	for {
		f.sampleSagas(ctx, sagas)
		f.read(ctx, SourceAdvisories, advs.read)
		f.read(ctx, SourceDeadLetters, func(ctx context.Context) error { return f.readDeadLetters(ctx, dead) })
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// read runs one read of source, bounded by RequestTimeout, and records
// its problem or clears it.
func (f *Feed) read(ctx context.Context, source string, read func(context.Context) error) {
	rctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	err := read(rctx)
	if errors.Is(err, errAbsent) {
		err = nil
	}
	if ctx.Err() == nil {
		f.st.problem(source, err, f.opts.Now())
	}
}

// backfillStart is the sequence to start from to read the last n messages
// of a stream whose last sequence is last.
func backfillStart(last uint64, n int) uint64 {
	if last < uint64(n) {
		return 1
	}
	return last - uint64(n) + 1
}

// advisoryReader reads the advisories stored in contract.AdvisoryStream.
// Where that stream does not exist, it follows live advisories instead,
// from then on.
type advisoryReader struct {
	f    *Feed
	tail tail
	live *nats.Subscription
}

func (f *Feed) newAdvisoryReader() *advisoryReader {
	return &advisoryReader{f: f, tail: tail{
		js: f.js, stream: contract.AdvisoryStream,
		backfill: f.opts.Backfill, keep: f.opts.Backfill,
	}}
}

func (r *advisoryReader) read(ctx context.Context) error {
	if r.live != nil {
		return nil
	}
	first, err := r.tail.read(ctx, func(m *jetstream.RawStreamMsg) {
		if !isAPIAudit(m.Subject) {
			r.f.st.recordAdvisory(decodeAdvisory(m.Subject, m.Data))
		}
	})
	if first {
		r.f.st.setSources(func(src *Sources) { src.Advisories = "stream" })
	}
	if !errors.Is(err, errAbsent) || r.tail.started {
		return err
	}
	r.live, err = r.f.nc.Subscribe(contract.AdvisoryPrefix+">", func(m *nats.Msg) {
		if !isAPIAudit(m.Subject) {
			r.f.st.recordAdvisory(decodeAdvisory(m.Subject, m.Data))
		}
	})
	if err != nil {
		return fmt.Errorf("follow advisories on %s>: %w", contract.AdvisoryPrefix, err)
	}
	r.f.st.setSources(func(src *Sources) { src.Advisories = "live" })
	return nil
}

func (r *advisoryReader) stop() {
	if r.live != nil {
		_ = r.live.Unsubscribe()
	}
}

// isAPIAudit reports the API audit advisory, which reports every API
// request (this dashboard's own reads too) and would drown the rest.
// Streams made by earlier versions of sagascope still store it.
func isAPIAudit(subject string) bool {
	return strings.HasPrefix(subject, contract.AdvisoryPrefix+"API")
}

// readDeadLetters reads the dead letters stored since the previous read.
func (f *Feed) readDeadLetters(ctx context.Context, t *tail) error {
	first, err := t.read(ctx, func(m *jetstream.RawStreamMsg) { f.st.recordDeadLetter(deadLetterFrom(m)) })
	if first {
		f.st.setSources(func(src *Sources) { src.DeadLetters = true })
	}
	return err
}

// advisoryJSON holds the fields of every advisory kind the dashboard
// summarises; the rest stays in Raw.
type advisoryJSON struct {
	Type       string    `json:"type"`
	ID         string    `json:"id"`
	Time       time.Time `json:"timestamp"`
	Stream     string    `json:"stream"`
	Consumer   string    `json:"consumer"`
	StreamSeq  uint64    `json:"stream_seq"`
	Deliveries uint64    `json:"deliveries"`
	Reason     string    `json:"reason"`
	Action     string    `json:"action"`
	Paused     *bool     `json:"paused"`
	PauseUntil time.Time `json:"pause_until"`
	Leader     string    `json:"leader"`
}

func decodeAdvisory(subject string, data []byte) *Advisory {
	var j advisoryJSON
	_ = json.Unmarshal(data, &j) // an advisory that does not decode still shows its subject
	a := &Advisory{
		Type: j.Type, ID: j.ID, Time: j.Time, Subject: subject,
		Stream: j.Stream, Consumer: j.Consumer, StreamSeq: j.StreamSeq, Deliveries: j.Deliveries, Leader: j.Leader,
	}
	a.Kind = j.Type[strings.LastIndexByte(j.Type, '.')+1:]
	if a.Kind == "" {
		a.Kind = strings.ToLower(subject[strings.LastIndexByte(subject, '.')+1:])
	}
	switch {
	case j.Reason != "":
		a.Detail = j.Reason
	case j.Action != "":
		a.Detail = j.Action
	case j.Paused != nil && *j.Paused:
		a.Detail = "paused until " + j.PauseUntil.UTC().Format(time.TimeOnly)
	case j.Paused != nil:
		a.Detail = "resumed"
	case j.Leader != "":
		a.Detail = "leader " + j.Leader
	}
	a.Raw = clip(data)
	return a
}

func deadLetterFrom(m *jetstream.RawStreamMsg) *DeadLetter {
	h := storedHeader(m.Header)
	d := &DeadLetter{
		Seq:      m.Sequence,
		Time:     m.Time,
		Subject:  m.Subject,
		Reason:   h.Get(contract.DeadLetterReason),
		From:     h.Get(contract.DeadLetterFrom),
		Consumer: h.Get(contract.DeadLetterConsumer),
		Headers:  h,
		Payload:  clip(m.Data),
		Size:     len(m.Data),
	}
	if stream := h.Get(contract.DeadLetterFromStream); stream != "" && d.From != "" {
		if seq, err := strconv.ParseUint(h.Get(contract.DeadLetterSeq), 10, 64); err == nil {
			d.From = fmt.Sprintf("%s (%s #%d)", d.From, stream, seq)
		}
	}
	return d
}

// clip copies at most MaxPayload bytes of b: a message's data belongs to
// the client library and may be reused.
func clip(b []byte) []byte {
	return append([]byte(nil), b[:min(len(b), MaxPayload)]...)
}

func (s *state) setSources(change func(*Sources)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.sources)
	s.changed = true
}

func (s *state) recordAdvisory(a *Advisory) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advs.push(a)
	s.advsDirty, s.changed = true, true
}

func (s *state) recordDeadLetter(d *DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dead.push(d)
	s.deadDirty, s.changed = true, true
}
