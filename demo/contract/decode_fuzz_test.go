package contract_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/contract"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// FuzzDecode: whatever is published on a saga subject, Decode never panics;
// a refusal wraps ErrMalformed in one line (it becomes the dead letter's
// reason header, where a line break would corrupt the header block); and
// an envelope it accepts is valid and survives Encode and Decode
// unchanged. The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	order := contract.Order{ID: "o-1", Customer: "cust-0001", SKU: "sku-001", Qty: 2, Amount: 1999}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, t := range append(contract.Events, contract.PlaceOrder, contract.ChargePayment) {
		data, err := contract.NewEnvelope(t, order, nil, 0, at).Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(contract.Subject(t), data)
	}
	f.Fuzz(func(t *testing.T, subject string, data []byte) {
		env, err := contract.Decode(subject, data)
		if err != nil {
			if !errors.Is(err, contract.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if !strings.ContainsAny(subject, "\r\n") && strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("reason %q spans lines", err)
			}
			return
		}
		if env.V != contract.Version || !contract.KnownType(env.Type) || env.Order.Validate() != nil || env.SagaID != env.Order.ID {
			t.Fatalf("accepted an invalid envelope %+v", env)
		}
		again, err := env.Encode()
		if err != nil {
			t.Fatalf("re-encode %+v: %v", env, err)
		}
		back, err := contract.Decode(subject, again)
		if err != nil {
			t.Fatalf("decode of the re-encoded %s: %v", again, err)
		}
		if !back.Time.Equal(env.Time) {
			t.Fatalf("time %v came back as %v", env.Time, back.Time)
		}
		back.Time, env.Time = time.Time{}, time.Time{}
		if back != env {
			t.Fatalf("round trip changed the envelope:\n %+v\n %+v", env, back)
		}
	})
}
