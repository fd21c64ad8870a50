package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/natstest"
	"github.com/sagascope/sagascope/demo/topology"
)

// fuzzEndpoints are the control endpoints in the order FuzzRequest's
// endpoint argument picks them (modulo their number).
var fuzzEndpoints = []struct {
	name   string
	handle func(*server) func(context.Context, []byte) (any, error)
}{
	{"faults-set", func(s *server) func(context.Context, []byte) (any, error) { return s.setFault }},
	{"faults-clear", func(s *server) func(context.Context, []byte) (any, error) { return s.clearFault }},
	{"faults-list", func(s *server) func(context.Context, []byte) (any, error) { return s.listFaults }},
	{"faults-reset", func(s *server) func(context.Context, []byte) (any, error) { return s.resetFaults }},
	{"load-set", func(s *server) func(context.Context, []byte) (any, error) { return s.setLoad }},
	{"load-get", func(s *server) func(context.Context, []byte) (any, error) { return s.getLoad }},
	{"status", func(s *server) func(context.Context, []byte) (any, error) { return s.status }},
}

// FuzzRequest sends any body to any control endpoint's handler, backed by
// a real control bucket, and holds it to the API's promises: no panic (the
// handler is called directly, without the recover that guards the served
// endpoint); a refusal is a 400 and leaves the bucket untouched; an
// accepted request answers something that encodes, and a fault it stores
// is one Validate accepts. The seed corpus is in
// testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	srv := natstest.Server(f)
	nc := natstest.Connect(f, srv.ClientURL())
	js := natstest.JetStream(f, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tiny := contract.Seed{Accounts: 1, AccountBalance: 1, SKUs: 1, StockPerSKU: 1}
	if err := topology.Ensure(ctx, js, topology.Options{Seed: tiny}); err != nil {
		f.Fatalf("create the demo's resources: %v", err)
	}
	kv, err := js.KeyValue(ctx, contract.ControlBucket)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &server{cfg: Config{Service: contract.Payment, Instance: "p1", Version: "1.0.0", Control: kv}, now: func() time.Time { return now }}
	lastSeq := func(t *testing.T) uint64 {
		st, err := kv.Status(context.Background())
		if err != nil {
			t.Fatalf("control bucket status: %v", err)
		}
		return st.(*jetstream.KeyValueBucketStatus).StreamInfo().State.LastSeq
	}

	f.Add(uint8(0), []byte(`{"v":1,"fault":{"service":"payment","kind":"latency","latency":1000000}}`))
	f.Add(uint8(4), []byte(`{"v":1,"rate":5,"burst":3}`))
	f.Fuzz(func(t *testing.T, endpoint uint8, data []byte) {
		e := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		before := lastSeq(t)
		reply, err := e.handle(s)(ctx, data)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || re.code != 400 {
				t.Fatalf("%s refused %q with %v; want a 400", e.name, data, err)
			}
			if after := lastSeq(t); after != before {
				t.Fatalf("%s refused %q but wrote to the bucket (last sequence %d -> %d)", e.name, data, before, after)
			}
			return
		}
		if _, err := json.Marshal(reply); err != nil {
			t.Fatalf("%s answered %q with %+v, which does not encode: %v", e.name, data, reply, err)
		}
		if fr, ok := reply.(contract.FaultReply); ok {
			for _, stored := range fr.Faults {
				check := stored
				if err := check.Validate(); err != nil {
					t.Fatalf("%s stored fault %+v that Validate refuses: %v", e.name, stored, err)
				}
			}
		}
	})
}
