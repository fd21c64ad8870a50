package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/tui/feed"
)

// The views on a real server: a work-queue stream without direct gets,
// followed while a message arrives, and a bucket with a deleted key, with
// hostile bytes in a subject and a payload. Nothing the server holds
// reaches the terminal raw.
func TestTheBrowseViewsReadARealServer(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WORK", Subjects: []string{"work.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
		t.Fatal(err)
	}
	publish := func(subject, data string) {
		t.Helper()
		m := nats.NewMsg(subject)
		m.Data = []byte(data)
		m.Header.Set("X-Evil", "\x1b]0;pwned\x07")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		publish(fmt.Sprintf("work.job.%d", i), fmt.Sprintf(`{"job":%d}`, i))
	}
	publish("work.\x1b[31mevil", "poison \x1b]0;pwned\x07\x1b[2J\xff")
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "things", History: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "a"} {
		if _, err := kv.PutString(ctx, k, "v-"+k); err != nil {
			t.Fatal(err)
		}
	}
	if err := kv.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}

	br, err := feed.NewBrowser(nc)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(appConfig{ctx: ctx, styles: plainStyles(), browse: br})
	a.Update(tea.WindowSizeMsg{Width: 160, Height: 48})
	snap := fixtureSnapshot()
	snap.Streams = []feed.Stream{{Name: "KV_things"}, {Name: "WORK"}}
	a.Update(snapshotMsg{snap})
	clean := func(what string) string {
		t.Helper()
		view := a.View()
		if strings.ContainsAny(view, "\x1b\x07\u009b") {
			t.Errorf("%s: the view holds a control byte:\n%q", what, view)
		}
		return view
	}

	pressSettled(t, a, "2", "down", "enter")
	view := clean("the messages")
	for _, want := range []string{"MESSAGES  WORK", "6 messages", "work queue", "no direct get", "work.job.4", "work.evil", "⟨hex⟩ 70 6f 69"} {
		if !strings.Contains(view, want) {
			t.Errorf("the messages view has no %q:\n%s", want, view)
		}
	}
	// Follow, and a message published meanwhile arrives under the cursor.
	pressSettled(t, a, "F")
	publish("work.job.late", `{"job":"late"}`)
	m := a.screens[1].(*streams).top().(*messages)
	_, cmd := a.Update(followTickMsg{to: m, req: m.req})
	settle(t, a, cmd)
	view = clean("following")
	if !strings.Contains(view, "work.job.late") || !strings.Contains(view, "● following") {
		t.Errorf("the followed stream should show the late message:\n%s", view)
	}
	if i, _ := m.table.index(); m.msgs[i].Subject != "work.job.late" {
		t.Errorf("the cursor is on %q, want the newest message", m.msgs[i].Subject)
	}
	pressSettled(t, a, "F", "enter")
	view = clean("the message in full")
	if !strings.Contains(view, `"job": "late"`) || !strings.Contains(view, "X-Evil") {
		t.Errorf("the message in full should show its JSON indented and its header:\n%s", view)
	}

	pressSettled(t, a, "esc", "esc", "up", "enter")
	view = clean("the keys")
	for _, want := range []string{"KV  things", "2 of 2 keys", "DEL"} {
		if !strings.Contains(view, want) {
			t.Errorf("the KV view has no %q:\n%s", want, view)
		}
	}
	pressSettled(t, a, "enter")
	view = clean("a key's history")
	if !strings.Contains(view, "things › a") || !strings.Contains(view, "2 writes kept") {
		t.Errorf("the history of a should hold its two writes:\n%s", view)
	}
	pressSettled(t, a, "r")
	view = clean("the key's raw messages")
	if !strings.Contains(view, "MESSAGES  KV_things") || !strings.Contains(view, "subject $KV.things.a") {
		t.Errorf("r should show the key's raw messages:\n%s", view)
	}
}
