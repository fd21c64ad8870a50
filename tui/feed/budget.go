package feed

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	"github.com/sagascope/sagascope/demo/contract"
)

// DefaultAPIBudget is the JetStream API requests a second the polls spend
// on consumer lists by default. A dashboard on the demo (nine streams with
// consumers) lists every one every refresh within it; on a system of a
// thousand streams it is what keeps the dashboard's cost flat: one consumer
// list per stream per refresh cost such a server 46 % of a core.
const DefaultAPIBudget = 20

// budgetWindow is how far the budget may be spent ahead: a minute's worth,
// so the first picture of up to budget×60 streams is complete at once while
// the average over any minute stays near the budget.
const budgetWindow = 60

// listing is what the poller last read of one stream's consumers.
type listing struct {
	cis []*jetstream.ConsumerInfo
	// built are the rows made from cis when they were read; a later poll
	// that does not read them again shows these, older.
	built []Consumer
	// read is when the list came back, by the feed's clock.
	read time.Time
	// lastSeq, consumers and created are the stream's as of that list:
	// a stream that moved since has consumers that probably moved too.
	lastSeq   uint64
	consumers int
	created   time.Time
}

// budget decides which streams' consumers a poll lists: all of them when
// they fit the budget, else the most telling first (streams never listed,
// then the ones on screen and the saga's own, then streams that moved,
// then the longest unlisted) until the budget of the moment is spent. The
// rest keep their last list, whose age the snapshot shows.
type budget struct {
	limiter *rate.Limiter // nil: no limit

	mu    sync.Mutex
	focus map[string]bool // streams on screen, from Feed.Focus
	// pinned is the stream of the consumer on screen (Feed.FocusConsumer),
	// focused whatever Focus says.
	pinned string
}

func newBudget(perSecond float64) *budget {
	b := &budget{focus: map[string]bool{}}
	if perSecond >= 0 {
		b.limiter = rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond*budgetWindow)))
	}
	return b
}

// setFocus replaces the streams on screen.
func (b *budget) setFocus(streams []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.focus)
	for _, s := range streams {
		b.focus[s] = true
	}
}

// pin replaces the stream of the consumer on screen; "" for none.
func (b *budget) pin(stream string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pinned = stream
}

// sagaStreams are the streams the Overview reads for the saga: always
// worth their request.
var sagaStreams = func() map[string]bool {
	m := map[string]bool{}
	for _, svc := range contract.Services {
		m[contract.StreamName(svc)] = true
	}
	return m
}()

// focusFresh is how old the consumer list of a stream on screen (or of the
// saga's) may grow before it comes first again: what is on screen is never
// older than about a second and a refresh.
const focusFresh = time.Second

// Priorities of a stream's consumer list, most telling first.
const (
	priorityNew   = iota // never listed, or recreated
	priorityFocus        // on screen, or one of the saga's streams
	priorityMoved        // new messages or consumers since the last list
	priorityStale        // nothing seen to move: the oldest list first
)

// pick returns the streams whose consumers to list now, out of those with
// consumers, spending the budget; listed is the poller's last lists, read
// by the feed's clock, of which now is the time.
func (b *budget) pick(infos []*jetstream.StreamInfo, listed map[string]*listing, now time.Time) []*jetstream.StreamInfo {
	type candidate struct {
		info     *jetstream.StreamInfo
		priority int
		read     time.Time
	}
	b.mu.Lock()
	var cands []candidate
	for _, info := range infos {
		if info.State.Consumers == 0 {
			continue
		}
		c := candidate{info: info, priority: priorityStale}
		l := listed[info.Config.Name]
		switch {
		case l == nil || !l.created.Equal(info.Created):
			c.priority = priorityNew
		case (b.focus[info.Config.Name] || b.pinned != "" && b.pinned == info.Config.Name || sagaStreams[info.Config.Name]) && now.Sub(l.read) >= focusFresh:
			c.priority = priorityFocus
		case l.lastSeq != info.State.LastSeq || l.consumers != info.State.Consumers:
			c.priority = priorityMoved
		}
		if l != nil {
			c.read = l.read
		}
		cands = append(cands, c)
	}
	b.mu.Unlock()
	if b.limiter == nil {
		out := make([]*jetstream.StreamInfo, len(cands))
		for i, c := range cands {
			out[i] = c.info
		}
		return out
	}
	slices.SortStableFunc(cands, func(x, y candidate) int {
		return cmp.Or(cmp.Compare(x.priority, y.priority), x.read.Compare(y.read))
	})
	var out []*jetstream.StreamInfo
	for _, c := range cands {
		if !b.limiter.Allow() {
			break
		}
		out = append(out, c.info)
	}
	return out
}

// spend takes n requests made outside pick (the stream list's pages)
// from the budget, into debt if need be; it never waits.
func (b *budget) spend(n int) {
	if b.limiter != nil && n > 0 {
		b.limiter.ReserveN(time.Now(), min(n, b.limiter.Burst()))
	}
}

// streamListEvery is how often the streams are listed, at least every
// refresh: the stream list (a request per 256 streams) may take half the
// budget, so on ten thousand streams it waits for its turn rather than
// starve the consumer lists.
func (b *budget) streamListEvery(pages int, refresh time.Duration) time.Duration {
	if b.limiter == nil {
		return refresh
	}
	half := float64(b.limiter.Limit()) / 2
	return max(refresh, time.Duration(float64(pages)/half*float64(time.Second)))
}
