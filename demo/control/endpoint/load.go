package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// maxUpdateAttempts bounds load.set's read-modify-write retries when other
// instances write the setting at the same moment. Without the jittered
// back-off between attempts, two instances serving a queue of bursts were
// measured losing five conflicts in a row to each other under -race.
const (
	maxUpdateAttempts = 10
	updateBackoff     = 5 * time.Millisecond
)

// setLoad applies a LoadRequest to the shared setting with a
// read-modify-write on its revision, so concurrent requests served by
// different instances are each applied once: every burst gets its own
// BurstID, which is how each generator places each burst once.
func (s *server) setLoad(ctx context.Context, data []byte) (any, error) {
	var r contract.LoadRequest
	if err := decode(data, &r, &r.V); err != nil {
		return nil, err
	}
	switch {
	case r.Rate == nil && r.Burst == 0:
		return nil, badRequest("nothing to change: give a rate, a burst or both")
	case r.Rate != nil && (*r.Rate < 0 || *r.Rate > contract.MaxRate):
		return nil, badRequest("rate %v is not in 0..%d orders/s", *r.Rate, contract.MaxRate)
	case r.Burst < 0 || r.Burst > contract.MaxBurst:
		return nil, badRequest("burst %d is not in 0..%d orders", r.Burst, contract.MaxBurst)
	}
	for attempt := range maxUpdateAttempts {
		if attempt > 0 {
			select {
			case <-time.After(rand.N(time.Duration(attempt) * updateBackoff)):
			case <-ctx.Done():
				return nil, bucketError("write load setting", ctx.Err())
			}
		}
		cur, rev, err := s.readLoad(ctx)
		// A setting nothing can read is overwritten: setting the load is
		// how an operator repairs it.
		if err != nil && !errors.Is(err, errMalformedLoad) {
			return nil, bucketError("read load setting", err)
		}
		next := cur
		if r.Rate != nil {
			next.Rate = *r.Rate
		}
		if r.Burst > 0 {
			next.Burst = r.Burst
			next.BurstID = cur.BurstID + 1
		}
		next.Updated = s.now().UTC()
		value, err := json.Marshal(next)
		if err != nil {
			return nil, bucketError("encode load setting", err)
		}
		if rev == 0 {
			_, err = s.cfg.Control.Create(ctx, contract.LoadKey, value)
		} else {
			_, err = s.cfg.Control.Update(ctx, contract.LoadKey, value, rev)
		}
		switch {
		case err == nil:
			return contract.LoadReply{V: contract.Version, Load: next}, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			continue // another writer got in between: apply ours on top of theirs
		default:
			return nil, bucketError("write load setting", err)
		}
	}
	return nil, &requestError{code: 500, msg: fmt.Sprintf("write load setting: still conflicting after %d attempts", maxUpdateAttempts)}
}

// errMalformedLoad reports a stored load setting that does not decode.
var errMalformedLoad = errors.New("stored load setting is malformed")

// readLoad returns the stored setting and its revision; revision 0 means
// none is stored yet. With errMalformedLoad the revision is still valid.
func (s *server) readLoad(ctx context.Context) (contract.LoadSetting, uint64, error) {
	var l contract.LoadSetting
	e, err := s.cfg.Control.Get(ctx, contract.LoadKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return l, 0, nil
	}
	if err != nil {
		return l, 0, err
	}
	if err := json.Unmarshal(e.Value(), &l); err != nil {
		return contract.LoadSetting{}, e.Revision(), fmt.Errorf("%w (%v): set the load to overwrite it", errMalformedLoad, err)
	}
	return l, e.Revision(), nil
}

func (s *server) getLoad(ctx context.Context, data []byte) (any, error) {
	if err := empty(data); err != nil {
		return nil, err
	}
	l, _, err := s.readLoad(ctx)
	if err != nil {
		return nil, bucketError("read load setting", err)
	}
	return contract.LoadReply{V: contract.Version, Load: l}, nil
}
