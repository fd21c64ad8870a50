package feed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/synadia-io/orbit.go/jetstreamext"
)

// A KV bucket is a stream, KV_<bucket>, with a subject per key,
// $KV.<bucket>.<key>. The KV API's History and Watch run an ordered
// consumer, which an observer may not create; the Browser reads the
// bucket's stream instead: the keys with one batched direct get of the
// last message of every subject, a key's history as the messages on its
// subject, and a watch as the messages stored after the last one read.

// KVStreamPrefix begins the name of a KV bucket's stream.
const KVStreamPrefix = "KV_"

// KV operations, from a write's KV-Operation header (none is a put).
const (
	KVPut    = "PUT"
	KVDelete = "DEL"
	KVPurge  = "PURGE"
)

const kvOperationHeader = "KV-Operation"

// maxKeyScan bounds the messages Keys reads when the bucket has more keys
// than one request may return (1,024): at most 64 batched reads.
const maxKeyScan = 64 * maxBatch

// KVEntry is one write of a key: a value, or a delete or purge marker.
type KVEntry struct {
	Key      string
	Revision uint64 // the write's stream sequence
	Time     time.Time
	Op       string // KVPut, KVDelete or KVPurge
	Value    []byte // cut to MaxBrowsePayload
	Size     int
}

// KVKeys is the latest write of each key of a bucket.
type KVKeys struct {
	Bucket string
	// Entries are sorted by key; deleted keys are there with their
	// delete marker.
	Entries []KVEntry
	Bounds  StreamBounds
	// Partial reports a bucket too large to read in full: Entries hold
	// the keys written in its first maxKeyScan messages.
	Partial bool
}

// KVBucket is the bucket a stream holds, "" when it is not a KV stream.
func KVBucket(stream string) string {
	if b, ok := strings.CutPrefix(stream, KVStreamPrefix); ok && b != "" {
		return b
	}
	return ""
}

func kvSubjects(bucket string) string { return "$KV." + bucket + ".>" }

// Keys reads the latest write of every key of bucket.
func (b *Browser) Keys(ctx context.Context, bucket string) (KVKeys, error) {
	stream := KVStreamPrefix + bucket
	out := KVKeys{Bucket: bucket}
	bd, err := b.bounds(ctx, stream)
	out.Bounds = bd
	if err != nil {
		return out, err
	}
	if bd.Msgs == 0 {
		return out, nil
	}
	var msgs []StoredMsg
	if bd.Direct {
		msgs, err = b.lastPerSubject(ctx, stream, bucket, bd.Last)
	}
	if !bd.Direct || errors.Is(err, errTooManyKeys) {
		msgs, out.Partial, err = b.scanKeys(ctx, bd, bucket)
	}
	if err != nil {
		return out, fmt.Errorf("read the keys of bucket %s: %w", bucket, err)
	}
	out.Entries = make([]KVEntry, 0, len(msgs))
	for _, m := range msgs {
		out.Entries = append(out.Entries, kvEntry(bucket, m))
	}
	slices.SortFunc(out.Entries, func(a, b KVEntry) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// errTooManyKeys is a multi-subject get refused for matching more than
// 1,024 subjects (the server's 413). jetstreamext reports that answer as
// ErrBatchUnsupported, since it carries no Nats-Num-Pending.
var errTooManyKeys = errors.New("more keys than one request returns")

// lastPerSubject reads the last message of every key up to sequence last,
// with one request.
func (b *Browser) lastPerSubject(ctx context.Context, stream, bucket string, last uint64) ([]StoredMsg, error) {
	msgs, err := jetstreamext.GetLastMsgsFor(ctx, b.js, stream, []string{kvSubjects(bucket)}, jetstreamext.GetLastMsgsUpToSeq(last))
	if err != nil {
		return nil, err
	}
	var out []StoredMsg
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break
		}
		if errors.Is(err, jetstreamext.ErrBatchUnsupported) {
			return nil, errTooManyKeys
		}
		if err != nil {
			return nil, err
		}
		out = append(out, storedMsg(m))
	}
	return out, ctx.Err()
}

// scanKeys reads the bucket's messages in order, keeping the last of each
// key, up to maxKeyScan of them.
func (b *Browser) scanKeys(ctx context.Context, bd StreamBounds, bucket string) ([]StoredMsg, bool, error) {
	latest := map[string]StoredMsg{}
	seq, read := max(bd.First, 1), 0
	for seq <= bd.Last && read < maxKeyScan {
		msgs, err := b.forward(ctx, bd, position{seq: seq}, kvSubjects(bucket), maxBatch)
		if err != nil {
			return nil, false, err
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			latest[m.Subject] = m
		}
		read += len(msgs)
		seq = msgs[len(msgs)-1].Seq + 1
	}
	out := make([]StoredMsg, 0, len(latest))
	for _, m := range latest {
		out = append(out, m)
	}
	return out, read >= maxKeyScan && seq <= bd.Last, nil
}

// History reads every write of key still stored, oldest first.
func (b *Browser) History(ctx context.Context, bucket, key string) ([]KVEntry, error) {
	stream := KVStreamPrefix + bucket
	bd, err := b.bounds(ctx, stream)
	if err != nil {
		return nil, err
	}
	var out []KVEntry
	// A bucket keeps at most 64 writes a key: one read, unless the key's
	// writes were never cut.
	for seq := max(bd.First, 1); seq <= bd.Last; {
		msgs, err := b.forward(ctx, bd, position{seq: seq}, "$KV."+bucket+"."+key, maxBatch)
		if err != nil {
			return out, fmt.Errorf("read the history of %s in bucket %s: %w", key, bucket, err)
		}
		for _, m := range msgs {
			out = append(out, kvEntry(bucket, m))
		}
		if len(msgs) < maxBatch {
			break
		}
		seq = msgs[len(msgs)-1].Seq + 1
	}
	return out, nil
}

// Changes reads up to limit writes to bucket stored after sequence after,
// oldest first: a watch is Changes called again from the last revision.
func (b *Browser) Changes(ctx context.Context, bucket string, after uint64, limit int) ([]KVEntry, StreamBounds, error) {
	msgs, bd, err := b.Read(ctx, MsgQuery{Stream: KVStreamPrefix + bucket, Subject: kvSubjects(bucket), From: after + 1, Limit: limit})
	out := make([]KVEntry, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, kvEntry(bucket, m))
	}
	if err != nil {
		return out, bd, fmt.Errorf("watch bucket %s: %w", bucket, err)
	}
	return out, bd, nil
}

func kvEntry(bucket string, m StoredMsg) KVEntry {
	op := KVPut
	switch m.Header.Get(kvOperationHeader) {
	case KVDelete:
		op = KVDelete
	case KVPurge:
		op = KVPurge
	}
	return KVEntry{
		Key:      strings.TrimPrefix(m.Subject, "$KV."+bucket+"."),
		Revision: m.Seq, Time: m.Time, Op: op, Value: m.Data, Size: m.Size,
	}
}
