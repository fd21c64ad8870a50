package endpoint_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/control/endpoint"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
	"github.com/sagascope/sagascope/demo/fault"
)

func TestFaultsRoundTripThroughTheClient(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)

	// An instance of payment follows the bucket the way services do.
	table := fault.NewTable(contract.Payment, d.Clock.Now)
	watchCtx, stop := context.WithCancel(context.Background())
	done, err := fault.Watch(watchCtx, d.KV, table, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("watch faults: %v", err)
	}
	t.Cleanup(func() { stop(); <-done })

	if got, err := d.client.Faults(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Faults on an empty bucket = %v, %v; want none", got, err)
	}
	if _, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Inventory, Kind: contract.FaultLatency, Latency: 200 * time.Millisecond}); err != nil {
		t.Fatalf("set inventory latency: %v", err)
	}
	got, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultError, Probability: 0.3})
	if err != nil {
		t.Fatalf("set payment error: %v", err)
	}
	set := d.Clock.Now()
	want := []contract.Fault{
		{Service: contract.Payment, Kind: contract.FaultError, Probability: 0.3, Set: set},
		{Service: contract.Inventory, Kind: contract.FaultLatency, Latency: 200 * time.Millisecond, Set: set},
	}
	assertFaults(t, "after two sets, in saga order", got, want)
	listed, err := d.client.Faults(ctx)
	if err != nil {
		t.Fatalf("Faults: %v", err)
	}
	assertFaults(t, "Faults", listed, want)
	endpointtest.Eventually(t, "the payment instance applies the error fault", func() bool {
		_, ok := table.Active(contract.FaultError)
		return ok
	})

	// Setting a kind again replaces it; defaults are filled by the service.
	got, err = d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultError})
	if err != nil {
		t.Fatalf("set payment error again: %v", err)
	}
	want[0].Probability = 1
	assertFaults(t, "after replacing with the default probability", got, want)

	got, err = d.client.ClearFault(ctx, contract.Payment, contract.FaultError)
	if err != nil {
		t.Fatalf("clear payment error: %v", err)
	}
	assertFaults(t, "after clear", got, want[1:])
	if got, err = d.client.ClearFault(ctx, contract.Payment, contract.FaultError); err != nil {
		t.Fatalf("clearing a fault that is not set: %v", err)
	}
	assertFaults(t, "after clearing again", got, want[1:])
	endpointtest.Eventually(t, "the payment instance drops the cleared fault", func() bool {
		_, ok := table.Active(contract.FaultError)
		return !ok
	})

	if err := d.client.Reset(ctx); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got, err := d.client.Faults(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Faults after Reset = %v, %v; want none", got, err)
	}
}

func TestAFaultWithADurationExpiresAndIsSweptFromTheBucket(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)

	got, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultPause, Duration: 30 * time.Second})
	if err != nil {
		t.Fatalf("set pause for 30s: %v", err)
	}
	if len(got) != 1 || !got[0].Expires.Equal(got[0].Set.Add(30*time.Second)) {
		t.Fatalf("set reply = %+v; want one fault expiring 30s after it was set", got)
	}
	d.Clock.Advance(29 * time.Second)
	if got, _ := d.client.Faults(ctx); len(got) != 1 {
		t.Fatalf("Faults 29s in = %+v; want the pause still in force", got)
	}
	d.Clock.Advance(time.Second)
	if got, err := d.client.Faults(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Faults 30s in = %+v, %v; want none", got, err)
	}
	if _, err := d.KV.Get(ctx, contract.FaultKey(contract.Payment, contract.FaultPause)); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("expired fault key after a list: err = %v; want it deleted", err)
	}
}

func TestBadRequestsAreRefusedWith400AndChangeNothing(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)
	// Something to lose, so "nothing changed" means something.
	if _, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultPause}); err != nil {
		t.Fatalf("set pause: %v", err)
	}
	if _, err := d.client.SetLoad(ctx, contract.LoadRequest{Rate: ptr(5.0)}); err != nil {
		t.Fatalf("set load: %v", err)
	}

	tests := []struct {
		name, subject, body, want string
	}{
		{"a set that is not JSON", contract.FaultSetSubject, `{"fault":`, "not valid JSON"},
		{"a set with a field of the wrong type", contract.FaultSetSubject, `{"fault":{"service":"payment","kind":"error","probability":"high"}}`, "not valid JSON"},
		{"a set of a newer schema version", contract.FaultSetSubject, `{"v":2,"fault":{"service":"payment","kind":"pause"}}`, "schema version 2"},
		{"a set for an unknown service", contract.FaultSetSubject, `{"v":1,"fault":{"service":"billing","kind":"pause"}}`, `unknown service "billing"`},
		{"a set of an unknown kind", contract.FaultSetSubject, `{"v":1,"fault":{"service":"payment","kind":"meteor"}}`, `unknown fault kind "meteor"`},
		{"a set with probability 1.5", contract.FaultSetSubject, `{"v":1,"fault":{"service":"payment","kind":"error","probability":1.5}}`, "probability 1.5 is not in 0..1"},
		{"a set of a kind that does not apply to the service", contract.FaultSetSubject, `{"v":1,"fault":{"service":"payment","kind":"burst"}}`, "burst does not apply to payment"},
		{"a set with a negative duration", contract.FaultSetSubject, `{"v":1,"fault":{"service":"payment","kind":"pause","duration":-1}}`, "duration -1ns"},
		{"a set with an empty body", contract.FaultSetSubject, ``, `unknown service ""`},
		{"a clear that is not JSON", contract.FaultClearSubject, `nope`, "not valid JSON"},
		{"a clear for an unknown service", contract.FaultClearSubject, `{"service":"billing","kind":"pause"}`, `unknown service "billing"`},
		{"a clear of an unknown kind", contract.FaultClearSubject, `{"service":"payment","kind":"meteor"}`, `unknown fault kind "meteor"`},
		{"a list of an older schema version", contract.FaultListSubject, `{"v":-1}`, "schema version -1"},
		{"a reset of a newer schema version", contract.FaultResetSubject, `{"v":2}`, "schema version 2"},
		{"a load set with a negative rate", contract.LoadSetSubject, `{"rate":-1}`, "rate -1 is not in 0..100000"},
		{"a load set above the maximum rate", contract.LoadSetSubject, `{"rate":100001}`, "rate 100001"},
		{"a load set with a burst above the maximum", contract.LoadSetSubject, `{"burst":100001}`, "burst 100001"},
		{"a load set that changes nothing", contract.LoadSetSubject, `{}`, "nothing to change"},
		{"a load get that is not JSON", contract.LoadGetSubject, `[`, "not valid JSON"},
		{"a status query of a newer schema version", contract.StatusQuerySubject(contract.Payment), `{"v":2}`, "schema version 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := d.LastSeq(t)
			msg, err := d.NC.RequestWithContext(ctx, tt.subject, []byte(tt.body))
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			if code := msg.Header.Get(micro.ErrorCodeHeader); code != "400" {
				t.Errorf("error code header = %q; want 400", code)
			}
			if h := msg.Header.Get(micro.ErrorHeader); !strings.Contains(h, tt.want) {
				t.Errorf("error header = %q; want it to mention %q", h, tt.want)
			}
			var body contract.ErrorReply
			if err := json.Unmarshal(msg.Data, &body); err != nil || body.Code != 400 || !strings.Contains(body.Error, tt.want) {
				t.Errorf("body = %s (%v); want an ErrorReply with code 400 mentioning %q", msg.Data, err, tt.want)
			}
			if after := d.LastSeq(t); after != before {
				t.Errorf("control bucket moved from sequence %d to %d; want nothing written", before, after)
			}
		})
	}

	// The client surfaces the same answer as a RemoteError.
	_, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Payment, Kind: contract.FaultBurst})
	var re *control.RemoteError
	if !errors.As(err, &re) || re.Code != 400 || !strings.Contains(err.Error(), "refused by sagascope (400): fault burst does not apply to payment") {
		t.Fatalf("SetFault(burst on payment) = %v; want a RemoteError 400 saying burst does not apply to payment", err)
	}
}

func TestHandWrittenRequestsWithoutAVersionAreAccepted(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)
	msg, err := d.NC.RequestWithContext(ctx, contract.FaultSetSubject, []byte(`{"fault":{"service":"payment","kind":"pause","extra":"ignored"},"note":"from nats req"}`))
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	var r contract.FaultReply
	if err := json.Unmarshal(msg.Data, &r); err != nil || msg.Header.Get(micro.ErrorHeader) != "" || len(r.Faults) != 1 || r.V != contract.Version {
		t.Fatalf("reply = %s (headers %v, %v); want a FaultReply v1 with the pause", msg.Data, msg.Header, err)
	}
	msg, err = d.NC.RequestWithContext(ctx, contract.FaultListSubject, nil)
	if err != nil || msg.Header.Get(micro.ErrorHeader) != "" {
		t.Fatalf("list with an empty body: %v, headers %v; want an answer", err, msg.Header)
	}
}

func TestTwoServicesShareTheControlAPIAndEachRequestIsAnsweredOnce(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	payment := d.Serve(t, contract.Payment)
	shipping := d.Serve(t, contract.Shipping)
	ctx := endpointtest.Context(t)

	if _, err := d.client.SetFault(ctx, contract.Fault{Service: contract.Orders, Kind: contract.FaultBurst, Multiplier: 3}); err != nil {
		t.Fatalf("set orders burst: %v", err)
	}
	const lists = 20
	for i := range lists {
		got, err := d.client.Faults(ctx)
		if err != nil || len(got) != 1 || got[0].Kind != contract.FaultBurst {
			t.Fatalf("list %d = %+v, %v; want the burst set through either instance", i, got, err)
		}
	}
	handled := func() int { return requests(payment, "faults-list") + requests(shipping, "faults-list") }
	// micro counts a request after its handler returns, just after replying.
	endpointtest.Eventually(t, "both instances together count every list", func() bool { return handled() >= lists })
	if n := handled(); n != lists {
		t.Fatalf("instances handled %d list requests; want exactly %d", n, lists)
	}

	// And a raw request sees one answer, however long it listens.
	inbox := d.NC.NewInbox()
	sub, err := d.NC.SubscribeSync(inbox)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	defer sub.Unsubscribe()
	if err := d.NC.PublishRequest(contract.FaultListSubject, inbox, nil); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("first answer: %v", err)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("second answer %s; want exactly one", m.Data)
	}
}

func requests(s micro.Service, endpoint string) int {
	for _, e := range s.Stats().Endpoints {
		if e.Name == endpoint {
			return e.NumRequests
		}
	}
	return 0
}

func TestLoadIsSetReadAndEveryBurstGetsANewID(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	d.Serve(t, contract.Orders)
	d.Serve(t, contract.Payment)
	ctx := endpointtest.Context(t)

	l, err := d.client.Load(ctx)
	if err != nil || l != (contract.LoadSetting{}) {
		t.Fatalf("Load before any set = %+v, %v; want the zero setting", l, err)
	}
	l, err = d.client.SetLoad(ctx, contract.LoadRequest{Rate: ptr(20.0)})
	if err != nil || l.Rate != 20 || l.BurstID != 0 || !l.Updated.Equal(d.Clock.Now()) {
		t.Fatalf("SetLoad(rate 20) = %+v, %v; want rate 20, no burst, updated now", l, err)
	}
	l, err = d.client.SetLoad(ctx, contract.LoadRequest{Burst: 500})
	if err != nil || l.Rate != 20 || l.Burst != 500 || l.BurstID != 1 {
		t.Fatalf("SetLoad(burst 500) = %+v, %v; want rate kept at 20, burst 500 with id 1", l, err)
	}
	l, err = d.client.SetLoad(ctx, contract.LoadRequest{Rate: ptr(0.0), Burst: 100})
	if err != nil || l.Rate != 0 || l.Burst != 100 || l.BurstID != 2 {
		t.Fatalf("SetLoad(rate 0, burst 100) = %+v, %v; want paused, burst 100 with id 2", l, err)
	}
	if got, err := d.client.Load(ctx); err != nil || got != l {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, l)
	}

	// Concurrent bursts through two instances conflict on the revision and
	// are retried, so each is counted exactly once.
	const bursts = 16
	var wg sync.WaitGroup
	errs := make(chan error, bursts)
	for range bursts {
		wg.Go(func() {
			_, err := d.client.SetLoad(ctx, contract.LoadRequest{Burst: 1})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent burst: %v", err)
		}
	}
	if got, err := d.client.Load(ctx); err != nil || got.BurstID != l.BurstID+bursts {
		t.Fatalf("BurstID after %d concurrent bursts = %d, %v; want %d", bursts, got.BurstID, err, l.BurstID+bursts)
	}
}

func TestTheStatusEndpointAnswersWithItsServicesStatus(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	want := contract.Status{
		V: contract.Version, Service: contract.Payment, Instance: "payment-7", Version: "1.0.0",
		Time: d.Clock.Now(), State: contract.StateRunning, Counters: contract.Counters{Processed: 42},
	}
	d.Serve(t, contract.Payment, func(c *endpoint.Config) { c.Status = func() contract.Status { return want } })
	d.Serve(t, contract.Inventory) // no Status func: identity only
	ctx := endpointtest.Context(t)

	got, err := d.client.Status(ctx, contract.Payment)
	if err != nil || !statusEqual(got, want) {
		t.Fatalf("Status(payment) = %+v, %v; want %+v", got, err, want)
	}
	got, err = d.client.Status(ctx, contract.Inventory)
	if err != nil || got.Service != contract.Inventory || got.Instance != "inventory-1" || got.State != contract.StateRunning {
		t.Fatalf("Status(inventory) = %+v, %v; want inventory-1 running", got, err)
	}
	if _, err := d.client.Status(ctx, contract.Shipping); !errors.Is(err, control.ErrNoResponders) {
		t.Fatalf("Status(shipping) with no shipping instance = %v; want ErrNoResponders", err)
	}
}

func statusEqual(a, b contract.Status) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestServicesAreDiscoverableWithNatsMicroRequests(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	svc := d.Serve(t, contract.Payment, func(c *endpoint.Config) { c.Version = "dev"; c.Instance = "payment-abc" })
	d.Serve(t, contract.Orders, func(c *endpoint.Config) { c.Version = "v1.2.3" })
	ctx := endpointtest.Context(t)

	msg, err := d.NC.RequestWithContext(ctx, "$SRV.PING.sagascope-payment", nil)
	if err != nil {
		t.Fatalf("ping sagascope-payment: %v", err)
	}
	var ping micro.Ping
	if err := json.Unmarshal(msg.Data, &ping); err != nil || ping.Name != "sagascope-payment" || ping.ID != svc.Info().ID {
		t.Fatalf("ping = %s (%v); want sagascope-payment with the service's id", msg.Data, err)
	}

	subject, err := micro.ControlSubject(micro.InfoVerb, contract.ServiceName(contract.Payment), "")
	if err != nil {
		t.Fatal(err)
	}
	msg, err = d.NC.RequestWithContext(ctx, subject, nil)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil {
		t.Fatalf("decode info %s: %v", msg.Data, err)
	}
	if info.Version != "0.0.0-dev" || info.Metadata[endpoint.MetaVersion] != "dev" || info.Metadata[endpoint.MetaInstance] != "payment-abc" || info.Metadata[endpoint.MetaService] != "payment" {
		t.Errorf("info identity = version %q, metadata %v; want 0.0.0-dev and the build version, instance and service in metadata", info.Version, info.Metadata)
	}
	wantSubjects := []string{
		contract.FaultSetSubject, contract.FaultClearSubject, contract.FaultListSubject, contract.FaultResetSubject,
		contract.LoadSetSubject, contract.LoadGetSubject, contract.StatusQuerySubject(contract.Payment),
	}
	var subjects []string
	for _, e := range info.Endpoints {
		subjects = append(subjects, e.Subject)
		if e.QueueGroup != endpoint.QueueGroup {
			t.Errorf("endpoint %s queue group = %q; want %q", e.Name, e.QueueGroup, endpoint.QueueGroup)
		}
	}
	if !slices.Equal(subjects, wantSubjects) {
		t.Errorf("endpoint subjects = %v; want %v", subjects, wantSubjects)
	}

	// Every instance of every service answers a ping to all services.
	inbox := d.NC.NewInbox()
	sub, err := d.NC.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := d.NC.PublishRequest("$SRV.PING", inbox, nil); err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for range 2 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("ping all: %v (got %v)", err, names)
		}
		var p micro.Ping
		_ = json.Unmarshal(m.Data, &p)
		names[p.Name] = p.Version
	}
	if names["sagascope-payment"] != "0.0.0-dev" || names["sagascope-orders"] != "1.2.3" {
		t.Errorf("$SRV.PING answers = %v; want payment 0.0.0-dev and orders 1.2.3", names)
	}
}

func TestServeRefusesAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	d := startDemo(t)
	tests := []struct {
		name string
		nc   *nats.Conn
		cfg  endpoint.Config
	}{
		{"no connection", nil, endpoint.Config{Service: contract.Payment, Control: d.KV}},
		{"an unknown service", d.NC, endpoint.Config{Service: "billing", Control: d.KV}},
		{"no control bucket", d.NC, endpoint.Config{Service: contract.Payment}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := endpoint.Serve(tt.nc, tt.cfg); !errors.Is(err, endpoint.ErrInvalidConfig) {
				if s != nil {
					_ = s.Stop()
				}
				t.Fatalf("Serve = %v; want ErrInvalidConfig", err)
			}
		})
	}
}

func assertFaults(t *testing.T, what string, got, want []contract.Fault) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s: faults =\n%s\nwant\n%s", what, g, w)
	}
}

func ptr[T any](v T) *T { return &v }
