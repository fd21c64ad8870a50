package scenario

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/check"
	"github.com/sagascope/sagascope/demo/contract"
)

// maxScanned bounds the messages or sagas one reading scans, so an
// expectation on a system that ran for days answers in bounded time; the
// reading says when it stopped short.
const maxScanned = 200_000

// readDeadLetters counts the dead-letter stream's messages, or those whose
// reason contains the text.
func (o *observer) readDeadLetters(ctx context.Context, contains string) (reading, error) {
	s, err := o.js.Stream(ctx, contract.DeadLetterStream)
	if err != nil {
		return reading{}, fmt.Errorf("stream %s: %w", contract.DeadLetterStream, err)
	}
	info := s.CachedInfo() // fetched by Stream just now
	if contains == "" {
		return number(float64(info.State.Msgs)), nil
	}
	n := 0
	err = o.scan(ctx, contract.DeadLetterStream, []string{contract.DeadLetterSubjects}, func(m jetstream.Msg) {
		if strings.Contains(m.Headers().Get(contract.DeadLetterReason), contains) {
			n++
		}
	})
	if err != nil {
		return reading{}, err
	}
	return number(float64(n)), nil
}

// scan delivers the messages of stream on subjects to fn, oldest first, as
// many as the stream held when scan began (at most maxScanned), through an
// ordered consumer that is gone when scan returns.
func (o *observer) scan(ctx context.Context, stream string, subjects []string, fn func(jetstream.Msg)) error {
	var total uint64
	for _, subject := range subjects {
		counts, err := o.subjectCounts(ctx, stream, subject)
		if err != nil {
			return err
		}
		for _, n := range counts {
			total += n
		}
	}
	if total == 0 {
		return nil
	}
	cons, err := o.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
	if err != nil {
		return fmt.Errorf("read stream %s: %w", stream, err)
	}
	for seen := uint64(0); seen < min(total, maxScanned); {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			fn(m)
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read stream %s: %w", stream, err)
		}
		if got == 0 {
			return fmt.Errorf("read stream %s: %d of %d messages arrived", stream, seen, total)
		}
		seen += uint64(got)
	}
	return nil
}

// sagas reads every saga record.
func (o *observer) sagas(ctx context.Context) ([]contract.Saga, error) {
	kv, err := o.js.KeyValue(ctx, contract.SagaBucket)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", contract.SagaBucket, err)
	}
	all, _, err := check.ReadBucket[contract.Saga](ctx, kv)
	if err != nil {
		return nil, err
	}
	return slices.Collect(maps.Values(all)), nil
}

func (o *observer) readCancelled(ctx context.Context, contains string) (reading, error) {
	all, err := o.sagas(ctx)
	if err != nil {
		return reading{}, err
	}
	n, cancelled := 0, 0
	for _, s := range all {
		if s.Status == contract.SagaCancelled {
			cancelled++
			if strings.Contains(s.Reason, contains) {
				n++
			}
		}
	}
	r := number(float64(n))
	r.text = fmt.Sprintf("%d of %d cancelled", n, cancelled)
	return r, nil
}

// readCompensationOrder counts the sagas that compensated both their
// reservation and their charge with the refund stored before the release:
// a saga undoes its steps last first, so the stock (reserved second) must
// be released before the money (charged first) is refunded.
func (o *observer) readCompensationOrder(ctx context.Context) (reading, error) {
	released := map[string]time.Time{}
	refunded := map[string]time.Time{}
	record := func(into map[string]time.Time) func(jetstream.Msg) {
		return func(m jetstream.Msg) {
			id := m.Headers().Get(contract.SagaHeader)
			meta, err := m.Metadata()
			if id == "" || err != nil {
				return
			}
			if _, seen := into[id]; !seen {
				into[id] = meta.Timestamp
			}
		}
	}
	if err := o.scan(ctx, contract.StreamName(contract.Inventory), []string{contract.Subject(contract.StockReleased)}, record(released)); err != nil {
		return reading{}, err
	}
	if err := o.scan(ctx, contract.StreamName(contract.Payment), []string{contract.Subject(contract.RefundPayment)}, record(refunded)); err != nil {
		return reading{}, err
	}
	both, wrong := 0, 0
	for id, rel := range released {
		ref, ok := refunded[id]
		if !ok {
			continue
		}
		both++
		if !rel.Before(ref) {
			wrong++
		}
	}
	r := number(float64(wrong))
	r.text = fmt.Sprintf("%d of %d sagas that undid two steps", wrong, both)
	return r, nil
}
