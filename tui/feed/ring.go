package feed

// ring is a bounded buffer that keeps the newest values: pushing onto a full
// ring drops the oldest. It is not safe for concurrent use.
type ring[T any] struct {
	buf   []T
	start int // index of the oldest value
	n     int
}

func newRing[T any](capacity int) *ring[T] {
	return &ring[T]{buf: make([]T, max(1, capacity))}
}

// push appends v, returning the value it evicted, if any.
func (r *ring[T]) push(v T) (evicted T, ok bool) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = v
		r.n++
		return evicted, false
	}
	evicted = r.buf[r.start]
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
	return evicted, true
}

func (r *ring[T]) len() int { return r.n }

// at returns the i-th value, oldest first.
func (r *ring[T]) at(i int) T { return r.buf[(r.start+i)%len(r.buf)] }

// newestFirst returns a new slice of the values, newest first.
func (r *ring[T]) newestFirst() []T {
	out := make([]T, r.n)
	for i := range r.n {
		out[i] = r.at(r.n - 1 - i)
	}
	return out
}

// oldestFirst returns a new slice of the values, oldest first.
func (r *ring[T]) oldestFirst() []T {
	out := make([]T, r.n)
	for i := range r.n {
		out[i] = r.at(i)
	}
	return out
}
