package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// Browser reads the messages a stream stored, for the Messages and KV
// views: with batched direct gets where the stream allows them (as tail
// does, and for the same reason: no consumer, so it works on work-queue
// streams and for an observer), else with the stream's message-get API
// ($JS.API.STREAM.MSG.GET, which an observer may also use), one message a
// request. It never writes. It is safe for concurrent use.
type Browser struct {
	js jetstream.JetStream
}

// NewBrowser reads through nc, which the caller keeps and closes.
func NewBrowser(nc *nats.Conn) (*Browser, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("browse streams: %w", err)
	}
	return &Browser{js: js}, nil
}

// MaxBrowsePayload bounds the bytes of one browsed message kept: a page of
// 256 messages at most 16 MiB, whatever the stream holds. StoredMsg.Size
// says how big the message was.
const MaxBrowsePayload = 64 << 10

// maxBatch is the most messages one batched direct get returns; the server
// caps a batch at 1,024.
const maxBatch = 1024

// StoredMsg is one message as a stream stored it.
type StoredMsg struct {
	Seq     uint64
	Subject string
	Time    time.Time
	// Header is the headers the message was stored with (not the ones the
	// get added).
	Header nats.Header
	// Data is the payload, cut to MaxBrowsePayload bytes.
	Data []byte
	// Size is the payload's length as stored.
	Size int
}

// StreamBounds is what a read saw of the stream, from its info.
type StreamBounds struct {
	Stream      string
	First, Last uint64
	Msgs        uint64
	LastTime    time.Time
	// Direct is whether the stream allows direct gets (allow_direct); a
	// stream that does not is read a message a request.
	Direct    bool
	WorkQueue bool
}

// MsgQuery says which messages Read reads: Limit of them matching Subject,
// from sequence From (or the first stored at or after Since), or, when
// Before is set, the Limit ones just before that sequence.
type MsgQuery struct {
	Stream string
	// Subject filters, with wildcards; "" reads every subject.
	Subject string
	From    uint64
	Since   time.Time
	Before  uint64
	// Limit is how many messages to read, at most 1,024 (0: 50).
	Limit int
}

// ErrStreamGone reports a stream that does not exist (any more).
var ErrStreamGone = errors.New("no such stream")

// Read reads the messages q asks for, in stream order. Fewer than Limit
// come back at either end of the stream.
func (b *Browser) Read(ctx context.Context, q MsgQuery) ([]StoredMsg, StreamBounds, error) {
	bd, err := b.bounds(ctx, q.Stream)
	if err != nil {
		return nil, bd, err
	}
	n := q.Limit
	if n <= 0 {
		n = 50
	}
	n = min(n, maxBatch)
	var msgs []StoredMsg
	if q.Before > 0 {
		msgs, err = b.before(ctx, bd, q.Subject, q.Before, n)
	} else {
		msgs, err = b.forward(ctx, bd, position{seq: max(q.From, 1), since: q.Since}, q.Subject, n)
	}
	return msgs, bd, err
}

// bounds reads the stream's info.
func (b *Browser) bounds(ctx context.Context, stream string) (StreamBounds, error) {
	bd := StreamBounds{Stream: stream}
	s, err := b.js.Stream(ctx, stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return bd, fmt.Errorf("read stream %s: %w", stream, ErrStreamGone)
	}
	if err != nil {
		return bd, fmt.Errorf("read stream %s: %w", stream, err)
	}
	info := s.CachedInfo()
	bd.First, bd.Last, bd.Msgs = info.State.FirstSeq, info.State.LastSeq, info.State.Msgs
	bd.LastTime = info.State.LastTime
	bd.Direct = info.Config.AllowDirect
	bd.WorkQueue = info.Config.Retention == jetstream.WorkQueuePolicy
	return bd, nil
}

// position is where a forward read starts: at since when it is set, else
// at seq.
type position struct {
	seq   uint64
	since time.Time
}

func (p position) String() string {
	if !p.since.IsZero() {
		return p.since.UTC().Format(time.RFC3339)
	}
	return fmt.Sprint(p.seq)
}

// forward reads up to n messages matching subject from p on.
func (b *Browser) forward(ctx context.Context, bd StreamBounds, p position, subject string, n int) ([]StoredMsg, error) {
	var (
		out []StoredMsg
		err error
	)
	if bd.Direct {
		out, err = b.directBatch(ctx, bd.Stream, p, subject, n)
	}
	// A server before 2.11 answers direct gets one message at a time.
	if !bd.Direct || errors.Is(err, jetstreamext.ErrBatchUnsupported) && len(out) == 0 {
		out, err = b.getEach(ctx, bd.Stream, p, subject, n)
	}
	if err != nil {
		return out, fmt.Errorf("read stream %s from %s: %w", bd.Stream, p, err)
	}
	return out, nil
}

func (b *Browser) directBatch(ctx context.Context, stream string, p position, subject string, n int) ([]StoredMsg, error) {
	opts := []jetstreamext.GetBatchOpt{jetstreamext.GetBatchSeq(p.seq)}
	if !p.since.IsZero() {
		opts = []jetstreamext.GetBatchOpt{jetstreamext.GetBatchStartTime(p.since)}
	}
	if subject != "" {
		opts = append(opts, jetstreamext.GetBatchSubject(subject))
	}
	msgs, err := jetstreamext.GetBatch(ctx, b.js, stream, n, opts...)
	if err != nil {
		return nil, err
	}
	var out []StoredMsg
	for m, err := range msgs {
		if errors.Is(err, jetstreamext.ErrNoMessages) {
			break // nothing (more) from there on
		}
		if err != nil {
			return out, err
		}
		out = append(out, storedMsg(m))
	}
	// The iterator ends quietly when ctx does, maybe mid-batch.
	return out, ctx.Err()
}

// msgGetRequest is the stream message-get API's request; nats.go's has no
// start time.
type msgGetRequest struct {
	Seq       uint64     `json:"seq,omitempty"`
	NextFor   string     `json:"next_by_subj,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
}

type msgGetResponse struct {
	Message *struct {
		Subject  string    `json:"subject"`
		Sequence uint64    `json:"seq"`
		Header   []byte    `json:"hdrs,omitempty"`
		Data     []byte    `json:"data,omitempty"`
		Time     time.Time `json:"time"`
	} `json:"message"`
	Error *jetstream.APIError `json:"error"`
}

// getEach reads up to n messages with one message-get request each, for a
// stream without direct gets.
func (b *Browser) getEach(ctx context.Context, stream string, p position, subject string, n int) ([]StoredMsg, error) {
	if subject == "" {
		subject = ">" // the next message at or after seq, over deleted ones
	}
	api := apiSubject(b.js.Options(), "STREAM.MSG.GET."+stream)
	req := msgGetRequest{Seq: p.seq, NextFor: subject}
	if !p.since.IsZero() {
		req.Seq, req.StartTime = 0, &p.since
	}
	var out []StoredMsg
	for len(out) < n {
		body, _ := json.Marshal(req)
		reply, err := b.js.Conn().RequestWithContext(ctx, api, body)
		if err != nil {
			return out, err
		}
		var resp msgGetResponse
		if err := json.Unmarshal(reply.Data, &resp); err != nil {
			return out, fmt.Errorf("decode the answer: %w", err)
		}
		if resp.Error != nil {
			if resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
				return out, nil
			}
			return out, resp.Error
		}
		if resp.Message == nil {
			return out, jetstream.ErrInvalidJetStreamResponse
		}
		m := resp.Message
		hdr, err := decodeHeader(m.Header)
		if err != nil {
			return out, fmt.Errorf("message %d: %w", m.Sequence, err)
		}
		out = append(out, StoredMsg{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: hdr, Data: clipBrowse(m.Data), Size: len(m.Data)})
		req.Seq, req.StartTime = m.Sequence+1, nil
	}
	return out, nil
}

// before reads the last n messages matching subject stored before
// sequence end. Reads only go forward, so it reads a window before end
// and widens it (eight times a round) until it holds n matches or reaches
// the stream's start: without a filter the first window is the answer.
func (b *Browser) before(ctx context.Context, bd StreamBounds, subject string, end uint64, n int) ([]StoredMsg, error) {
	end = min(end, bd.Last+1)
	if end <= bd.First {
		return nil, nil
	}
	span := uint64(n)
	for {
		start := bd.First
		if end-bd.First > span {
			start = end - span
		}
		var got []StoredMsg
		for seq := start; seq < end; {
			batch := int(min(end-seq, maxBatch))
			msgs, err := b.forward(ctx, bd, position{seq: seq}, subject, batch)
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				if m.Seq < end {
					got = append(got, m)
				}
			}
			if len(msgs) < batch || len(msgs) == 0 || msgs[len(msgs)-1].Seq+1 >= end {
				break
			}
			seq = msgs[len(msgs)-1].Seq + 1
			got = got[max(0, len(got)-n):] // only the last n can be the answer
		}
		if len(got) >= n || start == bd.First {
			return got[max(0, len(got)-n):], nil
		}
		span *= 8
	}
}

// storedMsg copies what a direct get returned: the message belongs to the
// iterator, and is cut to MaxBrowsePayload.
func storedMsg(m *jetstream.RawStreamMsg) StoredMsg {
	return StoredMsg{Seq: m.Sequence, Subject: m.Subject, Time: m.Time, Header: storedHeader(m.Header), Data: clipBrowse(m.Data), Size: len(m.Data)}
}

func clipBrowse(b []byte) []byte {
	return append([]byte(nil), b[:min(len(b), MaxBrowsePayload)]...)
}

// decodeHeader parses the headers the message-get API returns in
// NATS/1.0 wire form; a message without headers has none.
func decodeHeader(raw []byte) (nats.Header, error) {
	if len(raw) == 0 {
		return nats.Header{}, nil
	}
	h, err := nats.DecodeHeadersMsg(raw)
	if err != nil {
		return nil, fmt.Errorf("decode headers: %w", err)
	}
	return h, nil
}

// apiSubject is the JetStream API subject for op under the context's
// prefix or domain, as nats.go forms it.
func apiSubject(o jetstream.JetStreamOptions, op string) string {
	switch {
	case o.APIPrefix != "":
		return strings.TrimSuffix(o.APIPrefix, ".") + "." + op
	case o.Domain != "":
		return "$JS." + o.Domain + ".API." + op
	}
	return "$JS.API." + op
}
