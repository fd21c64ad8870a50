package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// sagaStream is the stream behind the saga bucket.
const sagaStream = "KV_" + contract.SagaBucket

// maxSagaSample bounds the saga writes read per refresh after attach. The
// bucket takes about four writes per saga, thousands a second at
// saturation: following every one made the dashboard's cost grow with the
// throughput it watches (issue 4). A bounded sample per refresh keeps it
// flat.
const maxSagaSample = 256

// sagaSampler is what the saga samples remember between refreshes.
type sagaSampler struct {
	attached bool
	// live is the bucket's last sequence at attach: later writes are
	// live, earlier ones are backfill.
	live uint64
	// next is the first sequence not read yet.
	next uint64
}

// sampleSagas reads the newest writes of the saga bucket's stream: on
// attach its last RecentSagas, then, once per refresh, those written since
// the previous sample, at most the newest min(RecentSagas, 256). Each
// sample is one stream info, one consumer create, one pull request and one
// consumer delete, whatever the write rate. The sagas it reads are
// recorded at the state they had then; sagas whose writes fell between
// samples are not seen, so the latencies are those of the completions the
// samples caught.
func (f *Feed) sampleSagas(ctx context.Context, sp *sagaSampler) {
	sctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	err := f.sampleSagasOnce(sctx, sp)
	if errors.Is(err, errAbsent) {
		err = nil
	}
	if ctx.Err() == nil {
		f.st.problem(SourceSagas, err, f.opts.Now())
	}
}

func (f *Feed) sampleSagasOnce(ctx context.Context, sp *sagaSampler) error {
	s, err := f.js.Stream(ctx, sagaStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return errAbsent
	}
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", contract.SagaBucket, err)
	}
	last := s.CachedInfo().State.LastSeq
	n := min(f.opts.RecentSagas, maxSagaSample)
	if !sp.attached {
		n = f.opts.RecentSagas
		sp.live = last
	}
	if sp.next > last+1 {
		sp.next = 0 // the bucket was recreated
	}
	start := max(sp.next, backfillStart(last, n))
	if start > last {
		f.markSagasAttached(sp, last)
		return nil
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		AckPolicy:     jetstream.AckNonePolicy,
		MemoryStorage: true,
		// Deleted after the sample; this only reclaims it when the
		// delete is lost.
		InactiveThreshold: max(time.Minute, 2*f.opts.RefreshEvery),
	})
	if err != nil {
		return fmt.Errorf("sample bucket %s: %w", contract.SagaBucket, err)
	}
	defer func() {
		// A stopping feed still removes its consumer.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.opts.RequestTimeout)
		defer cancel()
		_ = s.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	batch, err := cons.FetchNoWait(int(min(uint64(n), last-start+1)))
	if err != nil {
		return fmt.Errorf("sample bucket %s: %w", contract.SagaBucket, err)
	}
	for m := range batch.Messages() {
		f.recordSagaMsg(m, sp)
	}
	if err := batch.Error(); err != nil {
		return fmt.Errorf("sample bucket %s: %w", contract.SagaBucket, err)
	}
	f.markSagasAttached(sp, last)
	return nil
}

// markSagasAttached notes a complete sample up to last.
func (f *Feed) markSagasAttached(sp *sagaSampler, last uint64) {
	sp.next = max(sp.next, last+1)
	if !sp.attached {
		sp.attached = true
		f.st.setSources(func(src *Sources) { src.Sagas = true })
	}
}

// recordSagaMsg records one write of the saga bucket.
func (f *Feed) recordSagaMsg(m jetstream.Msg, sp *sagaSampler) {
	md, err := m.Metadata()
	if err != nil {
		return
	}
	seq := md.Sequence.Stream
	sp.next = max(sp.next, seq+1)
	if len(m.Data()) == 0 || len(m.Data()) > maxStatusSize {
		return // a delete or purge marker, or not a saga
	}
	s := Saga{Revision: seq}
	if json.Unmarshal(m.Data(), &s.Saga) != nil || s.ID == "" {
		return
	}
	f.st.recordSaga(&s, seq > sp.live && sp.attached)
}
