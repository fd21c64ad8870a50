package recording

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// demoLoad makes frames shaped like the dashboard's at the demo's default
// load: JSON of the recent sagas (20 start a second, the newest `keep`
// kept, each rendered once as the feed would), then the status of four
// services, streams and consumers whose counters move every second, and
// trends of 120 samples that shift by one. At keep=450 a frame is about
// the 208 KB the frame model measured at the demo's load (186 KB of it
// sagas).
type demoLoad struct {
	rng    *rand.Rand
	keep   int
	sagas  [][]byte // newest first
	placed int
	trend  []float64
	buf    []byte
}

func newDemoLoad(keep int) *demoLoad {
	return &demoLoad{rng: rand.New(rand.NewPCG(1, 2)), keep: keep, trend: make([]float64, 120)}
}

const idChars = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func (d *demoLoad) id() string {
	b := make([]byte, 22)
	for i := range b {
		b[i] = idChars[d.rng.IntN(len(idChars))]
	}
	return string(b)
}

// frame returns the frame of second s.
func (d *demoLoad) frame(s int, at time.Time) []byte {
	for range 20 {
		d.placed++
		id := d.id()
		started := at.Add(-time.Duration(d.rng.IntN(1000)) * time.Millisecond)
		status := "completed"
		if d.rng.IntN(20) == 0 {
			status = "cancelled"
		}
		saga := fmt.Appendf(nil, `{"v":1,"id":%q,"order":{"id":%q,"customer":"cust-%04d","sku":"sku-%03d","qty":%d,"amount_cents":%d},`+
			`"status":%q,"steps":{"charge":"done","reserve":"done","schedule":"done"},"started":%q,"updated":%q,"cause":"%s:shipping.scheduled","revision":%d},`,
			id, id, d.rng.IntN(1000), d.rng.IntN(1000), 1+d.rng.IntN(4), d.rng.IntN(50000), status,
			started.Format(time.RFC3339Nano), started.Add(time.Duration(20+d.rng.IntN(40))*time.Millisecond).Format(time.RFC3339Nano), id, d.placed)
		d.sagas = slices.Insert(d.sagas, 0, saga)
	}
	if len(d.sagas) > d.keep {
		d.sagas = d.sagas[:d.keep]
	}
	d.trend = append(d.trend[1:], 19+d.rng.Float64()*2)

	b := fmt.Appendf(d.buf[:0], `{"v":1,"time":%q,"snapshot":{"time":%q,"connection":{"state":"connected","url":"nats://127.0.0.1:4222","reconnects":0},"sagascope_reporting":true,"services":[`,
		at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
	for i, svc := range []string{"orders", "payment", "inventory", "shipping"} {
		if i > 0 {
			b = append(b, ',')
		}
		for inst := range 4 {
			b = fmt.Appendf(b, `{"service":%q,"instance":"%s-%d","handled":%d,"failed":%d,"in_flight":%d,"workers":32,"busy":%d,"breakers":[{"name":"gateway","state":"closed","failures":0}],"rates":{"handled":%.3f,"failed":0}},`,
				svc, svc, inst, s*5+inst, s/300, d.rng.IntN(4), d.rng.IntN(3), 5+d.rng.Float64())
		}
	}
	b = append(b, `],"streams":[`...)
	for i := range 15 {
		b = fmt.Appendf(b, `{"name":"SAGA_STREAM_%02d","subjects":["saga.%02d.>"],"messages":%d,"bytes":%d,"first_seq":1,"last_seq":%d,"consumers":3,"replicas":1},`,
			i, i, s*20+i, s*20*310, s*20+i)
	}
	b = append(b, `],"consumers":[`...)
	for i := range 13 {
		b = fmt.Appendf(b, `{"stream":"SAGA_STREAM_%02d","name":"worker-%02d","delivered":%d,"ack_floor":%d,"pending":%d,"ack_pending":%d,"redelivered":0,"waiting":%d,"lag_trend":[%d,%d,%d]},`,
			i, i, s*20, s*20-d.rng.IntN(5), d.rng.IntN(5), d.rng.IntN(8), d.rng.IntN(32), d.rng.IntN(5), d.rng.IntN(5), d.rng.IntN(5))
	}
	b = append(b, `],"history":{"every":1000000000,"completed_per_second":[`...)
	for _, v := range d.trend {
		b = strconv.AppendFloat(b, v, 'f', -1, 64)
		b = append(b, ',')
	}
	b = append(b, `]},"recent_sagas":[`...)
	for _, saga := range d.sagas {
		b = append(b, saga...)
	}
	b = append(b, "]}}"...)
	d.buf = b
	return b
}

// BenchmarkAnHourOfTheDemo records an hour of demo-sized frames, one a
// second, each a keyframe (self-contained, as the frame model's are), and
// prints the file's size per hour and the time from a seek to a random
// point to its first frame. The aims (issue 12): at most 50 MiB/hour, a
// seek under 200 ms.
func BenchmarkAnHourOfTheDemo(b *testing.B) {
	const seconds = 3600
	path := filepath.Join(b.TempDir(), "hour.rec")
	load := newDemoLoad(2000)
	var raw int64
	var writing time.Duration
	for b.Loop() {
		w, err := Create(path, Meta{Title: "an hour of the demo"}, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		raw = 0
		start := time.Now()
		for s := range seconds {
			at := t0.Add(time.Duration(s) * time.Second)
			data := load.frame(s, at)
			raw += int64(len(data))
			if err := w.Append(Frame{Time: at, Keyframe: true, Data: data}); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		writing = time.Since(start)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	var worst, total time.Duration
	const seeks = 50
	for range seeks {
		at := r.Start().Add(time.Duration(rng.Int64N(int64(r.Duration()))))
		start := time.Now()
		c, err := r.Seek(at)
		if err != nil {
			b.Fatal(err)
		}
		for {
			f, err := c.Next()
			if err == io.EOF || (err == nil && !f.Time.Before(at)) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		worst, total = max(worst, took), total+took
	}
	hours := r.Duration().Hours() + 1.0/3600
	b.ReportMetric(float64(st.Size())/hours/(1<<20), "MiB/hour")
	b.ReportMetric(float64(raw)/hours/(1<<20), "raw-MiB/hour")
	b.ReportMetric(float64(total.Milliseconds())/seeks, "ms/seek")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms/seek")
	b.ReportMetric(writing.Seconds()*1000/seconds, "ms-write/second")
}
