package feed

import (
	"sync"
	"time"
)

// ConsumerHistory is one consumer over the feed's last polls, oldest
// first: what the consumer's charts draw. Each sample is a fresh read of
// the consumer (a poll that did not list it again adds none).
type ConsumerHistory struct {
	Stream string `json:"stream"`
	Name   string `json:"name"`
	// Times are when each sample was read, by the feed's clock.
	Times []time.Time `json:"times"`
	// Delivered and Acked are per second since the sample before.
	Delivered Series `json:"delivered_per_second"`
	Acked     Series `json:"acked_per_second"`
	// Unprocessed is num_pending: matching messages not yet delivered.
	Unprocessed   Series `json:"unprocessed"`
	AckPending    Series `json:"ack_pending"`
	MaxAckPending Series `json:"max_ack_pending"`
}

// Len is the number of samples.
func (h *ConsumerHistory) Len() int { return len(h.Times) }

// ConsumerHistoryLen is how many samples a consumer's history keeps: two
// minutes at the default refresh, as the overview's trends.
const ConsumerHistoryLen = 120

// maxCharted bounds the consumers whose history the feed keeps, so a
// system of 100,000 consumers costs at most maxCharted rings
// (maxCharted × ConsumerHistoryLen × 48 bytes, about 740 KB). The
// consumer on screen always has one; the others are the first seen, so
// on a system of fewer consumers (the demo has ten) every one has its
// history from attach and opening its charts shows the last two minutes
// at once.
const maxCharted = 128

// chartPoint is one sample of a consumer, kept small: there may be
// maxCharted × ConsumerHistoryLen of them.
type chartPoint struct {
	at                  time.Time
	delivered, acked    float32
	pending             uint64
	ackPending, maxPend int32
}

// charts keeps the consumers' histories. Only the poll goroutine records;
// Focus may be called from any goroutine.
type charts struct {
	rings map[string]*ring[chartPoint] // by consumerKey

	mu                     sync.Mutex
	focusStream, focusName string // the consumer on screen; both "" for none
}

func newCharts() *charts { return &charts{rings: map[string]*ring[chartPoint]{}} }

func consumerKey(stream, name string) string { return stream + "/" + name }

func (c *charts) setFocus(stream, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.focusStream, c.focusName = stream, name
}

// focused is the consumer on screen; ok is false for none.
func (c *charts) focused() (stream, name string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.focusStream, c.focusName, c.focusStream != "" || c.focusName != ""
}

// record adds a sample of x, read afresh at x.Read, if x has a ring or
// one is free; the focused consumer takes the ring of another when none
// is.
func (c *charts) record(x *Consumer, focused bool) {
	key := consumerKey(x.Stream, x.Name)
	r := c.rings[key]
	if r == nil {
		if len(c.rings) >= maxCharted {
			if !focused {
				return
			}
			c.evict(key)
		}
		r = newRing[chartPoint](ConsumerHistoryLen)
		c.rings[key] = r
	}
	r.push(chartPoint{
		at: x.Read, delivered: float32(x.DeliveredRate), acked: float32(x.AckedRate),
		pending: x.Pending, ackPending: int32(x.AckPending), maxPend: int32(x.MaxAckPending),
	})
}

// evict drops the ring whose newest sample is oldest, other than keep's.
func (c *charts) evict(keep string) {
	var victim string
	var oldest time.Time
	for k, r := range c.rings {
		if k == keep || r.len() == 0 {
			continue
		}
		if at := r.at(r.len() - 1).at; victim == "" || at.Before(oldest) {
			victim, oldest = k, at
		}
	}
	delete(c.rings, victim)
}

// prune forgets the consumers that are gone; live is by consumerKey.
func (c *charts) prune(live map[string]consumerSample) {
	for k := range c.rings {
		if _, ok := live[k]; !ok {
			delete(c.rings, k)
		}
	}
}

// history returns the history of a consumer, nil without one.
func (c *charts) history(stream, name string) *ConsumerHistory {
	r := c.rings[consumerKey(stream, name)]
	if r == nil {
		return nil
	}
	n := r.len()
	h := &ConsumerHistory{
		Stream: stream, Name: name, Times: make([]time.Time, n),
		Delivered: make(Series, n), Acked: make(Series, n), Unprocessed: make(Series, n),
		AckPending: make(Series, n), MaxAckPending: make(Series, n),
	}
	for i := range n {
		p := r.at(i)
		h.Times[i] = p.at
		h.Delivered[i], h.Acked[i] = float64(p.delivered), float64(p.acked)
		h.Unprocessed[i], h.AckPending[i], h.MaxAckPending[i] = float64(p.pending), float64(p.ackPending), float64(p.maxPend)
	}
	return h
}
