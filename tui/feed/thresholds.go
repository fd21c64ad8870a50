package feed

import (
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Consumer metadata keys of the NATS monitoring convention (jsm.go's
// monitor package and `nats server check consumer` read the same keys).
// sagascope's durables set the unprocessed pair; any consumer may set any.
const (
	MetaUnprocessedWarn     = "io.nats.monitor.unprocessed-warn"
	MetaUnprocessedCritical = "io.nats.monitor.unprocessed-critical"
	MetaAckPendingCritical  = "io.nats.monitor.outstanding-ack-critical"
	MetaRedeliveryCritical  = "io.nats.monitor.redelivery-critical"
	MetaWaitingCritical     = "io.nats.monitor.waiting-critical"
	MetaLastDeliveryCrit    = "io.nats.monitor.last-delivery-critical"
	MetaLastAckCritical     = "io.nats.monitor.last-ack-critical"
)

// Thresholds are a consumer's io.nats.monitor.* limits; zero means unset.
type Thresholds struct {
	UnprocessedWarn      uint64        `json:"unprocessed_warn,omitempty"`
	UnprocessedCritical  uint64        `json:"unprocessed_critical,omitempty"`
	AckPendingCritical   int           `json:"outstanding_ack_critical,omitempty"`
	RedeliveryCritical   int           `json:"redelivery_critical,omitempty"`
	WaitingCritical      int           `json:"waiting_critical,omitempty"`
	LastDeliveryCritical time.Duration `json:"last_delivery_critical,omitempty"`
	LastAckCritical      time.Duration `json:"last_ack_critical,omitempty"`
}

// parseThresholds reads the monitoring metadata; values that do not parse
// are ignored, as the nats CLI ignores them.
func parseThresholds(meta map[string]string) Thresholds {
	var t Thresholds
	if len(meta) == 0 {
		return t
	}
	u := func(k string) uint64 { v, _ := strconv.ParseUint(meta[k], 10, 64); return v }
	i := func(k string) int { v, _ := strconv.Atoi(meta[k]); return max(0, v) }
	d := func(k string) time.Duration {
		v, err := time.ParseDuration(meta[k])
		if err != nil || v < 0 {
			return 0
		}
		return v
	}
	t.UnprocessedWarn = u(MetaUnprocessedWarn)
	t.UnprocessedCritical = u(MetaUnprocessedCritical)
	t.AckPendingCritical = i(MetaAckPendingCritical)
	t.RedeliveryCritical = i(MetaRedeliveryCritical)
	t.WaitingCritical = i(MetaWaitingCritical)
	t.LastDeliveryCritical = d(MetaLastDeliveryCrit)
	t.LastAckCritical = d(MetaLastAckCritical)
	return t
}

// judge returns the worst level c's thresholds give and why.
func (t Thresholds) judge(c *Consumer) (Level, string) {
	age := func(at time.Time) time.Duration {
		if at.IsZero() {
			return 0
		}
		return c.TimeStamp.Sub(at)
	}
	switch {
	case t.UnprocessedCritical > 0 && c.Pending >= t.UnprocessedCritical:
		return LevelCritical, fmt.Sprintf("unprocessed %d ≥ %d", c.Pending, t.UnprocessedCritical)
	case t.AckPendingCritical > 0 && c.AckPending >= t.AckPendingCritical:
		return LevelCritical, fmt.Sprintf("ack pending %d ≥ %d", c.AckPending, t.AckPendingCritical)
	case t.RedeliveryCritical > 0 && c.Redelivered >= t.RedeliveryCritical:
		return LevelCritical, fmt.Sprintf("redelivered %d ≥ %d", c.Redelivered, t.RedeliveryCritical)
	case t.WaitingCritical > 0 && c.Waiting >= t.WaitingCritical:
		return LevelCritical, fmt.Sprintf("waiting pulls %d ≥ %d", c.Waiting, t.WaitingCritical)
	case t.LastDeliveryCritical > 0 && c.Pending > 0 && age(c.LastDelivery) >= t.LastDeliveryCritical:
		return LevelCritical, fmt.Sprintf("last delivery %s ago", age(c.LastDelivery).Round(time.Second))
	case t.LastAckCritical > 0 && c.AckPending > 0 && age(c.LastAck) >= t.LastAckCritical:
		return LevelCritical, fmt.Sprintf("last ack %s ago", age(c.LastAck).Round(time.Second))
	case t.UnprocessedWarn > 0 && c.Pending >= t.UnprocessedWarn:
		return LevelWarn, fmt.Sprintf("unprocessed %d ≥ %d", c.Pending, t.UnprocessedWarn)
	}
	return LevelOK, ""
}

// consumerFrom converts the server's consumer info.
func consumerFrom(ci *jetstream.ConsumerInfo, streamMsgs uint64) Consumer {
	c := Consumer{
		Stream:         ci.Stream,
		Name:           ci.Name,
		Filter:         ci.Config.FilterSubject,
		Pull:           ci.Config.DeliverSubject == "",
		Pending:        ci.NumPending,
		StreamMessages: streamMsgs,
		AckPending:     ci.NumAckPending,
		MaxAckPending:  ci.Config.MaxAckPending,
		Redelivered:    ci.NumRedelivered,
		Waiting:        ci.NumWaiting,
		Paused:         ci.Paused,
		PauseRemaining: ci.PauseRemaining,
		TimeStamp:      ci.TimeStamp,
		Thresholds:     parseThresholds(ci.Config.Metadata),
	}
	if c.Filter == "" && len(ci.Config.FilterSubjects) > 0 {
		c.Filter = joinSubjects(ci.Config.FilterSubjects)
	}
	if ci.Delivered.Last != nil {
		c.LastDelivery = *ci.Delivered.Last
	}
	if ci.AckFloor.Last != nil {
		c.LastAck = *ci.AckFloor.Last
	}
	c.Level, c.Why = c.Thresholds.judge(&c)
	return c
}

func joinSubjects(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}
