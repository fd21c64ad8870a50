package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// tail reads the messages a stream stored since its previous read, with one
// stream info and one batched direct get (jetstreamext.GetBatch) per read.
//
// The dashboard follows streams this way, not with consumers, because a
// direct get only reads: an observer of a shared session needs no right to
// create consumers. That right would be more than reading: nats-server does
// not check a push consumer's deliver subject against its creator's publish
// permissions, so an observer could have the server replay stored messages
// onto saga subjects (issue 6). Reading also leaves no consumer state on the
// server to clean up when the dashboard dies.
//
// A tail is used by one goroutine at a time.
type tail struct {
	js     jetstream.JetStream
	stream string
	// backfill is how many stored messages the first read passes on, the
	// newest; since, when set, makes the first read start at that time
	// instead (bounded by keep).
	backfill int
	since    time.Time
	// keep bounds how many messages a later read passes on: when more were
	// stored since the previous read, the oldest are skipped. The views
	// keep only the newest anyway, and reading them all would make the
	// dashboard's cost grow with the rate it watches.
	keep int
	// maxBytes bounds the bytes of one read (0: the server's default).
	maxBytes int

	// next is the first sequence not read yet; started is set by the
	// first complete read.
	next    uint64
	started bool
	// created is when the stream read last was created.
	created time.Time
	// absentFor is how many reads in a row found no stream; skip is how
	// many reads more return errAbsent without asking. Each "stream not
	// found" is an API error in the account's counters, which the
	// api-errors rule watches: on a server without the demo, asking every
	// poll made the dashboard the cause of the errors it reported (two
	// absent sources, 60 errors in 30 s at the default refresh). Asking
	// after 1, 2, 4, 8, then every 16 reads keeps that to a few while a
	// stream created later is still found within 16 polls.
	absentFor, skip int
}

// errNoDirectGet reports a stream that does not allow direct gets.
var errNoDirectGet = errors.New("does not allow direct gets (allow_direct), which the dashboard reads with")

// read passes each message stored since the previous read to handle, in
// stream order, and reports whether this was the tail's first complete
// read. A stream that does not exist is errAbsent. A message that handle
// is passed is never passed again; the message and its header belong to
// handle.
func (t *tail) read(ctx context.Context, handle func(*jetstream.RawStreamMsg)) (first bool, err error) {
	if t.skip > 0 {
		t.skip--
		return false, errAbsent
	}
	s, err := t.js.Stream(ctx, t.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		t.absentFor++
		t.skip = 1<<min(t.absentFor-1, 4) - 1
		return false, errAbsent
	}
	t.absentFor = 0
	if err != nil {
		return false, fmt.Errorf("read stream %s: %w", t.stream, err)
	}
	info := s.CachedInfo()
	if !info.Config.AllowDirect {
		return false, fmt.Errorf("read stream %s: it %w", t.stream, errNoDirectGet)
	}
	last := info.State.LastSeq
	if t.next > last+1 || !info.Created.Equal(t.created) {
		t.next = 0 // the stream was recreated, or purged to an earlier sequence
	}
	t.created = info.Created
	n := t.keep
	if !t.started {
		n = t.backfill
		if !t.since.IsZero() {
			if t.next, err = t.seqAt(ctx, t.since, last); err != nil {
				return false, err
			}
			n = t.keep
		}
	}
	start := max(t.next, backfillStart(last, n))
	if start <= last {
		if err := t.get(ctx, start, int(min(uint64(n), last-start+1)), handle); err != nil {
			return false, err
		}
	}
	// A read that found nothing from start on starts there again next
	// time: a replica answering a direct get may lag the leader that
	// answered the info, so messages up to last may not have reached it
	// yet. A read cut short (by maxBytes) leaves the rest to the next one.
	t.next = max(t.next, start)
	first = !t.started
	t.started = true
	return first, nil
}

// get passes handle up to batch messages from sequence start on.
func (t *tail) get(ctx context.Context, start uint64, batch int, handle func(*jetstream.RawStreamMsg)) error {
	opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSeq(start)}
	if t.maxBytes > 0 {
		opts = append(opts, jetstreamext.GetBatchMaxBytes(t.maxBytes))
	}
	msgs, err := jetstreamext.GetBatch(ctx, t.js, t.stream, batch, opts...)
	if err != nil {
		return fmt.Errorf("read stream %s from %d: %w", t.stream, start, err)
	}
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			return nil // removed since the info: by age, size or a purge
		}
		if err != nil {
			return fmt.Errorf("read stream %s from %d: %w", t.stream, start, err)
		}
		t.next = m.Sequence + 1
		handle(m)
	}
	// The iterator ends quietly when ctx does, maybe mid-batch.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("read stream %s from %d: %w", t.stream, start, err)
	}
	return nil
}

// seqAt is the sequence of the first message stored at or after tm, or
// last+1 when there is none.
func (t *tail) seqAt(ctx context.Context, tm time.Time, last uint64) (uint64, error) {
	msgs, err := jetstreamext.GetBatch(ctx, t.js, t.stream, 1, jetstreamext.GetBatchStartTime(tm))
	if err != nil {
		return 0, fmt.Errorf("read stream %s since %s: %w", t.stream, tm.Format(time.RFC3339), err)
	}
	seq := last + 1
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read stream %s since %s: %w", t.stream, tm.Format(time.RFC3339), err)
		}
		seq = m.Sequence
	}
	return seq, nil
}

// directGetHeaders are the headers a direct get adds to a stored message.
var directGetHeaders = []string{
	jetstream.StreamHeader, jetstream.SubjectHeader, jetstream.SequenceHeader,
	jetstream.TimeStampHeaer, "Nats-Num-Pending", "Nats-Last-Sequence",
}

// storedHeader is h without the headers the direct get added: the headers
// the message was stored with.
func storedHeader(h nats.Header) nats.Header {
	out := make(nats.Header, len(h))
	for k, v := range h {
		out[k] = v
	}
	for _, k := range directGetHeaders {
		delete(out, k)
	}
	return out
}
