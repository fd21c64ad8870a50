package feed

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/natstest"
)

// browseStreams makes two streams holding the same 30 messages, one that
// allows direct gets and a work-queue stream that does not, and returns a
// Browser and the time between message 20 and 21.
func browseStreams(t *testing.T) (*Browser, time.Time) {
	t.Helper()
	nc := natstest.Connect(t, natstest.Server(t).ClientURL())
	js := natstest.JetStream(t, nc)
	for _, cfg := range []jetstream.StreamConfig{
		{Name: "DIRECT", Subjects: []string{"d.>"}, AllowDirect: true},
		{Name: "QUEUE", Subjects: []string{"q.>"}, Retention: jetstream.WorkQueuePolicy},
	} {
		if _, err := js.CreateStream(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	var mark time.Time
	for i := 1; i <= 30; i++ {
		if i == 21 {
			time.Sleep(20 * time.Millisecond) // stored times are the server's: leave a gap
			mark = time.Now()
			time.Sleep(20 * time.Millisecond)
		}
		kind := "a"
		if i%3 == 0 {
			kind = "b"
		}
		for _, prefix := range []string{"d", "q"} {
			m := nats.NewMsg(prefix + ".x." + kind)
			m.Data = fmt.Appendf(nil, "m%d", i)
			m.Header.Set("N", fmt.Sprint(i))
			if _, err := js.PublishMsg(t.Context(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := NewBrowser(nc)
	if err != nil {
		t.Fatal(err)
	}
	return b, mark
}

func payloads(msgs []StoredMsg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Data))
	}
	return out
}

func seqRange(from, to, step int) []string {
	var out []string
	for i := from; i <= to; i += step {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

func TestTheBrowserReadsPagesWithAndWithoutDirectGets(t *testing.T) {
	b, mark := browseStreams(t)
	cases := []struct {
		name string
		q    MsgQuery
		want []string
	}{
		{name: "the first page", q: MsgQuery{Limit: 5}, want: seqRange(1, 5, 1)},
		{name: "a page from a sequence", q: MsgQuery{From: 11, Limit: 3}, want: seqRange(11, 13, 1)},
		{name: "the last page, read back from past the end", q: MsgQuery{Before: 1000, Limit: 4}, want: seqRange(27, 30, 1)},
		{name: "the page before a sequence", q: MsgQuery{Before: 11, Limit: 3}, want: seqRange(8, 10, 1)},
		{name: "a page before the start is what there is", q: MsgQuery{Before: 3, Limit: 10}, want: seqRange(1, 2, 1)},
		{name: "past the end is empty", q: MsgQuery{From: 31, Limit: 5}},
		{name: "from a time", q: MsgQuery{Since: mark, Limit: 2}, want: seqRange(21, 22, 1)},
		{name: "filtered by subject", q: MsgQuery{Subject: "*.x.b", Limit: 4}, want: seqRange(3, 12, 3)},
		{name: "filtered, backwards, widening the window", q: MsgQuery{Subject: "*.x.b", Before: 1000, Limit: 6}, want: seqRange(15, 30, 3)},
	}
	for _, stream := range []string{"DIRECT", "QUEUE"} {
		for _, tt := range cases {
			t.Run(stream+": "+tt.name, func(t *testing.T) {
				q := tt.q
				q.Stream = stream
				if q.Subject != "" {
					q.Subject = strings.ToLower(stream[:1]) + tt.q.Subject[1:]
				}
				msgs, bd, err := b.Read(t.Context(), q)
				if err != nil {
					t.Fatal(err)
				}
				if got := payloads(msgs); !slices.Equal(got, tt.want) {
					t.Errorf("read %v, want %v", got, tt.want)
				}
				if bd.Last != 30 || bd.Direct != (stream == "DIRECT") {
					t.Errorf("bounds %+v", bd)
				}
				for _, m := range msgs {
					if m.Header.Get("N") == "" || m.Header.Get(jetstream.SequenceHeader) != "" {
						t.Errorf("message %d headers %v: want the stored ones only", m.Seq, m.Header)
					}
				}
			})
		}
	}
}

func TestTheBrowserSaysAStreamIsGone(t *testing.T) {
	b, _ := browseStreams(t)
	if _, _, err := b.Read(t.Context(), MsgQuery{Stream: "NOPE"}); err == nil || !errors.Is(err, ErrStreamGone) {
		t.Fatalf("read of a missing stream: %v, want ErrStreamGone", err)
	}
}

func TestABrowsedMessageKeepsItsSizeButNotAllItsBytes(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).ClientURL())
	js := natstest.JetStream(t, nc)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}, AllowDirect: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(t.Context(), "big", make([]byte, MaxBrowsePayload+100)); err != nil {
		t.Fatal(err)
	}
	b, _ := NewBrowser(nc)
	msgs, _, err := b.Read(t.Context(), MsgQuery{Stream: "BIG"})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("read %d messages: %v", len(msgs), err)
	}
	if msgs[0].Size != MaxBrowsePayload+100 || len(msgs[0].Data) != MaxBrowsePayload {
		t.Errorf("size %d, kept %d bytes", msgs[0].Size, len(msgs[0].Data))
	}
}
