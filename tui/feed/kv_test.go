package feed

import (
	"fmt"
	"slices"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/natstest"
)

func entryText(es []KVEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, fmt.Sprintf("%s %s %s", e.Key, e.Op, e.Value))
	}
	return out
}

func TestTheBrowserReadsABucketsKeysHistoryAndChanges(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "things", History: 5})
	if err != nil {
		t.Fatal(err)
	}
	put := func(k, v string) {
		t.Helper()
		if _, err := kv.PutString(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "1")
	put("b", "1")
	put("a", "2")
	put("c.d", "1")
	if err := kv.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	put("e", "1")
	if err := kv.Purge(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	b, _ := NewBrowser(nc)

	keys, err := b.Keys(ctx, "things")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a PUT 2", "b DEL ", "c.d PUT 1", "e PURGE "}
	if got := entryText(keys.Entries); !slices.Equal(got, want) || keys.Partial {
		t.Errorf("keys %v (partial %v), want %v", got, keys.Partial, want)
	}

	hist, err := b.History(ctx, "things", "a")
	if err != nil {
		t.Fatal(err)
	}
	if got := entryText(hist); !slices.Equal(got, []string{"a PUT 1", "a PUT 2"}) || hist[0].Revision != 1 || hist[1].Revision != 3 {
		t.Errorf("history of a: %v %+v", got, hist)
	}

	changes, bd, err := b.Changes(ctx, "things", 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := entryText(changes); !slices.Equal(got, []string{"c.d PUT 1", "b DEL ", "e PURGE "}) {
		// e's put was rolled up by its purge.
		t.Errorf("changes after revision 3: %v", got)
	}
	if bd.Last != 7 {
		t.Errorf("last revision %d, want 7", bd.Last)
	}
}

// A bucket of more keys than one multi-subject get may return (1,024) is
// read by scanning its stream.
func TestTheBrowserReadsEveryKeyOfALargeBucket(t *testing.T) {
	nc := natstest.Connect(t, natstest.Server(t).ClientURL())
	js := natstest.JetStream(t, nc)
	ctx := t.Context()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "many"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1500
	for i := range n {
		if _, err := kv.PutString(ctx, fmt.Sprintf("k%04d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := NewBrowser(nc)
	keys, err := b.Keys(ctx, "many")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Entries) != n || keys.Entries[0].Key != "k0000" || keys.Entries[n-1].Key != fmt.Sprintf("k%04d", n-1) {
		t.Errorf("%d keys, want %d", len(keys.Entries), n)
	}
}

func TestKVBucketNamesTheBucketOfAKVStream(t *testing.T) {
	for stream, want := range map[string]string{"KV_saga_sagas": "saga_sagas", "KV_": "", "SAGA_ORDERS": "", "OBJ_x": ""} {
		if got := KVBucket(stream); got != want {
			t.Errorf("KVBucket(%q) = %q, want %q", stream, got, want)
		}
	}
}
