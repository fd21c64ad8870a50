package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/nats-io/nats.go"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/tui/feed"
)

// fakeBrowser answers the views' reads from fixed messages and keys, as
// feed.Browser would (its reads are tested on a real server in
// tui/feed): views are tested as text, on fixed data.
type fakeBrowser struct {
	streams map[string][]feed.StoredMsg
	keys    map[string][]feed.KVEntry
	history map[string][]feed.KVEntry // by bucket/key
}

// subjectMatches is NATS subject matching, enough for the fixtures.
func subjectMatches(filter, subject string) bool {
	if filter == "" {
		return true
	}
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	for i, tok := range f {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(f) == len(s)
}

func (f *fakeBrowser) Read(_ context.Context, q feed.MsgQuery) ([]feed.StoredMsg, feed.StreamBounds, error) {
	all, ok := f.streams[q.Stream]
	if !ok {
		return nil, feed.StreamBounds{Stream: q.Stream}, fmt.Errorf("read stream %s: %w", q.Stream, feed.ErrStreamGone)
	}
	bd := feed.StreamBounds{Stream: q.Stream, Msgs: uint64(len(all)), Direct: true}
	if len(all) > 0 {
		bd.First, bd.Last, bd.LastTime = all[0].Seq, all[len(all)-1].Seq, all[len(all)-1].Time
	}
	var match []feed.StoredMsg
	for _, m := range all {
		if !subjectMatches(q.Subject, m.Subject) {
			continue
		}
		switch {
		case q.Before > 0 && m.Seq < q.Before,
			q.Before == 0 && m.Seq >= q.From && !m.Time.Before(q.Since):
			match = append(match, m)
		}
	}
	if q.Before > 0 {
		return match[max(0, len(match)-q.Limit):], bd, nil
	}
	return match[:min(len(match), q.Limit)], bd, nil
}

func (f *fakeBrowser) Keys(_ context.Context, bucket string) (feed.KVKeys, error) {
	es := f.keys[bucket]
	return feed.KVKeys{Bucket: bucket, Entries: es, Bounds: feed.StreamBounds{Stream: feed.KVStreamPrefix + bucket, Last: 12_400, Msgs: 12_400, Direct: true}}, nil
}

func (f *fakeBrowser) History(_ context.Context, bucket, key string) ([]feed.KVEntry, error) {
	return f.history[bucket+"/"+key], nil
}

func (f *fakeBrowser) Changes(context.Context, string, uint64, int) ([]feed.KVEntry, feed.StreamBounds, error) {
	return nil, feed.StreamBounds{}, nil
}

func jsonOf(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureBrowser holds 30 messages of SAGA_ORDERS, the newest three
// hostile (escapes in the subject, headers and payload; binary; invalid
// UTF-8), and the saga bucket with a hostile key and a deleted one.
func fixtureBrowser(t testing.TB) *fakeBrowser {
	f := &fakeBrowser{streams: map[string][]feed.StoredMsg{}, keys: map[string][]feed.KVEntry{}, history: map[string][]feed.KVEntry{}}
	var orders []feed.StoredMsg
	for i := range 27 {
		seq := uint64(24_693 + i)
		id := fmt.Sprintf("ord-%06d", 100+i)
		subject, typ := contract.Prefix+".orders.evt.placed", "order.placed"
		if i%3 == 1 {
			subject, typ = contract.Prefix+".payment.cmd.charge", "payment.charge"
		}
		data := fmt.Appendf(nil, `{"v":1,"type":%q,"id":"%s:%s","saga_id":%q,"order":{"id":%q,"customer":"cust-0042","sku":"sku-007","qty":2,"amount_cents":4200}}`, typ, id, typ, id, id)
		orders = append(orders, feed.StoredMsg{Seq: seq, Subject: subject, Time: ago(time.Duration(30-i) * 2 * time.Second),
			Header: nats.Header{"Nats-Msg-Id": {id + ":" + typ}, "Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, Data: data, Size: len(data)})
	}
	binary := []byte{0x00, 0x01, 0xff, 0xfe, 0x1b, '[', '2', 'J', 0x9b, 0x07, 'o', 'k', 0x7f, 0x80}
	binary = append(binary, make([]byte, 20)...)
	hostile := []byte("poison \x1b]0;pwned\x07\x1b[2J\r\nsecond line\x1b[31m red\u009b1m")
	orders = append(orders,
		feed.StoredMsg{Seq: 24_720, Subject: contract.Prefix + ".orders.evt.binary", Time: ago(5 * time.Second), Header: nats.Header{}, Data: binary, Size: len(binary)},
		feed.StoredMsg{Seq: 24_721, Subject: "saga.\xff\xfe.invalid", Time: ago(3 * time.Second), Header: nats.Header{"X-Bad\x1b[1m": {"\xff\x1b]8;;http://x\x07link"}}, Data: []byte("\xffnot utf-8\xfe"), Size: 11},
		feed.StoredMsg{Seq: 24_722, Subject: contract.Prefix + ".orders.evt.\x1b[31mevil\x07", Time: ago(time.Second),
			Header: nats.Header{"Title": {"\x1b]0;pwned\x07"}}, Data: hostile, Size: len(hostile)},
	)
	f.streams["SAGA_ORDERS"] = orders

	saga := func(id string, st contract.SagaStatus, steps map[contract.Step]contract.StepState, reason string, updated time.Duration) []byte {
		return jsonOf(t, contract.Saga{V: 1, ID: id, Status: st, Steps: steps, Reason: reason,
			Order:   contract.Order{ID: id, Customer: "cust-0042", SKU: "sku-007", Qty: 2, Amount: 4200},
			Started: ago(updated + 300*time.Millisecond), Updated: ago(updated)})
	}
	done := map[contract.Step]contract.StepState{contract.StepCharge: contract.StepDone, contract.StepReserve: contract.StepDone, contract.StepSchedule: contract.StepDone}
	cancelled := map[contract.Step]contract.StepState{contract.StepCharge: contract.StepCompensated, contract.StepReserve: contract.StepRejected}
	entry := func(key string, rev uint64, d time.Duration, op string, value []byte) feed.KVEntry {
		return feed.KVEntry{Key: key, Revision: rev, Time: ago(d), Op: op, Value: value, Size: len(value)}
	}
	hostileKey := "ord-\x1b[31mevil\xff"
	hostileSaga := saga("ord-\x1b[31mevil", contract.SagaCancelled, cancelled, "card declined \x1b]0;pwned\x07\x1b[2J", 4*time.Second)
	f.keys[contract.SagaBucket] = []feed.KVEntry{
		entry("notjson", 12_002, time.Hour, feed.KVPut, []byte("plain \x1b[5mtext")),
		entry("ord-000101", 12_390, 9*time.Second, feed.KVPut, saga("ord-000101", contract.SagaCompleted, done, "", 9*time.Second)),
		entry("ord-000102", 12_398, 2*time.Second, feed.KVPut, saga("ord-000102", contract.SagaCancelled, cancelled, "insufficient stock", 2*time.Second)),
		entry("ord-000103", 12_399, time.Second, feed.KVDelete, nil),
		entry(hostileKey, 12_400, 500*time.Millisecond, feed.KVPut, hostileSaga),
	}
	f.history[contract.SagaBucket+"/"+hostileKey] = []feed.KVEntry{entry(hostileKey, 12_400, 500*time.Millisecond, feed.KVPut, hostileSaga)}
	charging := map[contract.Step]contract.StepState{contract.StepCharge: contract.StepPending}
	compensating := map[contract.Step]contract.StepState{contract.StepCharge: contract.StepCompensating, contract.StepReserve: contract.StepRejected}
	f.history[contract.SagaBucket+"/ord-000102"] = []feed.KVEntry{
		entry("ord-000102", 12_380, 4*time.Second, feed.KVPut, saga("ord-000102", contract.SagaCharging, charging, "", 4*time.Second)),
		entry("ord-000102", 12_391, 3*time.Second, feed.KVPut, saga("ord-000102", contract.SagaCompensating, compensating, "insufficient stock", 3*time.Second)),
		entry("ord-000102", 12_398, 2*time.Second, feed.KVPut, saga("ord-000102", contract.SagaCancelled, cancelled, "insufficient stock", 2*time.Second)),
	}
	return f
}

// browseApp is testApp with br for the Streams screen's views, on a
// context that has ended: timers (flash, follow) answer at once with
// nothing, so settle can run every command to its end.
func browseApp(t *testing.T, width, height int, br browser) *app {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	a := newApp(appConfig{ctx: ctx, title: "embedded demo on nats://127.0.0.1:4222", styles: plainStyles(), ctl: &fakeControl{}, browse: br})
	a.Update(tea.WindowSizeMsg{Width: width, Height: height})
	a.Update(snapshotMsg{fixtureSnapshot()})
	return a
}

// settle runs cmds and the commands their messages lead to, as the
// program would, until none is left; a followTickMsg is dropped, since
// each would schedule the next.
func settle(t *testing.T, a *app, cmds ...tea.Cmd) {
	t.Helper()
	for n := 0; len(cmds) > 0; n++ {
		if n > 10_000 {
			t.Fatal("commands keep coming")
		}
		c := cmds[0]
		cmds = cmds[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case nil, followTickMsg:
		case tea.BatchMsg:
			cmds = append(cmds, msg...)
		default:
			_, cmd := a.Update(msg)
			cmds = append(cmds, cmd)
		}
	}
}

// pressSettled presses keys one at a time, settling after each.
func pressSettled(t *testing.T, a *app, keys ...string) {
	t.Helper()
	for _, k := range keys {
		settle(t, a, press(a, k)...)
	}
}
