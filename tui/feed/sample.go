package feed

import (
	"context"
	"encoding/json"
	"errors"

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

// sagaSampler reads the saga bucket's newest writes.
type sagaSampler struct {
	tail tail
	// live is the bucket's last sequence at attach: later writes are
	// live, earlier ones are backfill.
	live uint64
}

func (f *Feed) newSagaSampler() *sagaSampler {
	return &sagaSampler{tail: tail{
		js: f.js, stream: sagaStream,
		backfill: f.opts.RecentSagas,
		keep:     min(f.opts.RecentSagas, maxSagaSample),
	}}
}

// sampleSagas reads the newest writes of the saga bucket's stream: on
// attach its last RecentSagas, then, once per refresh, those written since
// the previous sample, at most the newest min(RecentSagas, 256). Each
// sample is one stream info and one batched direct get, whatever the write
// rate. The sagas it reads are recorded at the state they had then; sagas
// whose writes fell between samples are not seen, so the latencies are
// those of the completions the samples caught.
func (f *Feed) sampleSagas(ctx context.Context, sp *sagaSampler) {
	sctx, cancel := context.WithTimeout(ctx, f.opts.RequestTimeout)
	defer cancel()
	attached := sp.tail.started
	first, err := sp.tail.read(sctx, func(m *jetstream.RawStreamMsg) { f.recordSagaMsg(m, sp, attached) })
	if first {
		sp.live = sp.tail.next - 1
		f.st.setSources(func(src *Sources) { src.Sagas = true })
	}
	if errors.Is(err, errAbsent) {
		err = nil
	}
	if ctx.Err() == nil {
		f.st.problem(SourceSagas, err, f.opts.Now())
	}
}

// maxSagaSize bounds a saga record the feed decodes; a real one is well
// under 4 KiB.
const maxSagaSize = 64 << 10

// recordSagaMsg records one write of the saga bucket; live is false for
// the backfill read on attach.
func (f *Feed) recordSagaMsg(m *jetstream.RawStreamMsg, sp *sagaSampler, live bool) {
	if len(m.Data) == 0 || len(m.Data) > maxSagaSize {
		return // a delete or purge marker, or not a saga
	}
	s := Saga{Revision: m.Sequence}
	if json.Unmarshal(m.Data, &s.Saga) != nil || s.ID == "" {
		return
	}
	f.st.recordSaga(&s, live && m.Sequence > sp.live)
}
