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

// follower is one followed source: started when it exists, stopped when
// the feed stops.
type follower struct {
	source string
	// start begins following and returns how to stop; stop must return
	// only once no handler runs any more.
	start func(ctx context.Context) (stop func(), err error)
	stop  func()
}

// follow starts each source once it exists and keeps it until ctx ends,
// and samples the saga bucket once per refresh.
// Ordered consumers recreate themselves after reconnects and server
// restarts, so a started source stays started.
func (f *Feed) follow(ctx context.Context) {
	sources := []*follower{
		{source: SourceAdvisories, start: f.followAdvisories},
		{source: SourceDeadLetters, start: f.followDeadLetters},
	}
	defer func() {
		for _, s := range sources {
			if s.stop != nil {
				s.stop()
			}
		}
	}()
	t := time.NewTicker(f.opts.RefreshEvery)
	defer t.Stop()
	var sagas sagaSampler
	for {
		f.sampleSagas(ctx, &sagas)
		for _, s := range sources {
			if s.stop != nil {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
			stop, err := s.start(sctx)
			cancel()
			if errors.Is(err, errAbsent) {
				err = nil
			}
			if ctx.Err() == nil {
				f.st.problem(s.source, err, f.opts.Now())
			}
			s.stop = stop
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consume follows stream from seq start with an ordered consumer, passing
// every message to handle.
func (f *Feed) consume(ctx context.Context, source, stream string, start uint64, filters []string, handle func(jetstream.Msg)) (func(), error) {
	cons, err := f.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(1, start),
	})
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		handle(m)
		f.st.problem(source, nil, f.opts.Now())
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		f.st.problem(source, fmt.Errorf("follow %s: %w", stream, err), f.opts.Now())
	}))
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", stream, err)
	}
	return func() { cc.Stop(); <-cc.Closed() }, nil
}

// backfillStart is the sequence to start from to read the last n messages
// of a stream whose last sequence is last.
func backfillStart(last uint64, n int) uint64 {
	if last < uint64(n) {
		return 1
	}
	return last - uint64(n) + 1
}

// advisoryPrefix is the subject prefix of every JetStream advisory.
var advisoryPrefix = strings.TrimSuffix(contract.AdvisorySubjects, ">")

// advisoryFilters are the advisories worth showing: everything but the
// API audit, which reports every API request (including this dashboard's
// own polls) and would drown the rest.
var advisoryFilters = []string{
	advisoryPrefix + "CONSUMER.>",
	advisoryPrefix + "STREAM.>",
	advisoryPrefix + "SERVER.>",
	advisoryPrefix + "DOMAIN.>",
}

// followAdvisories reads the last advisories stored in
// contract.AdvisoryStream and follows it. Where that stream does not
// exist, it follows live advisories only.
func (f *Feed) followAdvisories(ctx context.Context) (func(), error) {
	s, err := f.js.Stream(ctx, contract.AdvisoryStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		sub, err := f.nc.Subscribe(contract.AdvisorySubjects, func(m *nats.Msg) {
			if strings.HasPrefix(m.Subject, advisoryPrefix+"API") {
				return
			}
			f.st.recordAdvisory(decodeAdvisory(m.Subject, m.Data))
		})
		if err != nil {
			return nil, fmt.Errorf("follow advisories on %s: %w", contract.AdvisorySubjects, err)
		}
		f.st.setSources(func(src *Sources) { src.Advisories = "live" })
		return func() { _ = sub.Unsubscribe() }, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", contract.AdvisoryStream, err)
	}
	start := backfillStart(s.CachedInfo().State.LastSeq, f.opts.Backfill)
	stop, err := f.consume(ctx, SourceAdvisories, contract.AdvisoryStream, start, advisoryFilters, func(m jetstream.Msg) {
		f.st.recordAdvisory(decodeAdvisory(m.Subject(), m.Data()))
	})
	if err == nil {
		f.st.setSources(func(src *Sources) { src.Advisories = "stream" })
	}
	return stop, err
}

// followDeadLetters reads the last dead letters and follows new ones.
func (f *Feed) followDeadLetters(ctx context.Context) (func(), error) {
	s, err := f.js.Stream(ctx, contract.DeadLetterStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, errAbsent
	}
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", contract.DeadLetterStream, err)
	}
	start := backfillStart(s.CachedInfo().State.LastSeq, f.opts.RecentEvents)
	stop, err := f.consume(ctx, SourceDeadLetters, contract.DeadLetterStream, start, nil, func(m jetstream.Msg) {
		f.st.recordDeadLetter(deadLetterFrom(m))
	})
	if err == nil {
		f.st.setSources(func(src *Sources) { src.DeadLetters = true })
	}
	return stop, err
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
		Stream: j.Stream, Consumer: j.Consumer, StreamSeq: j.StreamSeq, Deliveries: j.Deliveries,
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

func deadLetterFrom(m jetstream.Msg) *DeadLetter {
	h := m.Headers()
	d := &DeadLetter{
		Subject:  m.Subject(),
		Reason:   h.Get(contract.DeadLetterReason),
		From:     h.Get(contract.DeadLetterFrom),
		Consumer: h.Get(contract.DeadLetterConsumer),
		Headers:  h,
		Payload:  clip(m.Data()),
		Size:     len(m.Data()),
	}
	if md, err := m.Metadata(); err == nil {
		d.Seq, d.Time = md.Sequence.Stream, md.Timestamp
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
