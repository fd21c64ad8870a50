package feed

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The rules for any JetStream system, and their thresholds. Every window
// is by the feed's clock.
const (
	// consumerWindow is how long a consumer's condition must hold, with
	// its unprocessed count higher at the end than at the start.
	consumerWindow = 10 * time.Second
	// stormMin is the messages redelivered and not yet acked that make a
	// redelivery storm, held for consumerWindow.
	stormMin = 10
	// streamWindow is how long a stream must stay full, or without a
	// leader, or a replica offline, before it is reported; a leader
	// election takes a second or two.
	streamWindow = 5 * time.Second
	// lagWindow is how long a replica must stay behind its leader.
	lagWindow = 10 * time.Second
	// unreadShare: a stream that drops its oldest messages is reported
	// when a consumer has this share of the stream unread (its backlog
	// reaches the messages being dropped).
	unreadShare = 0.9
	// apiWindow and apiErrorsMin: the API errors over the last apiWindow
	// (at least apiInfoEvery×2 of samples) that are "rising".
	apiWindow    = 30 * time.Second
	apiErrorsMin = 10
)

func consumerAbout(c *Consumer) string { return "consumer " + c.Stream + " › " + c.Name }

// consumerRules: saturated, nobody pulling (or paused), redelivery storm.
func (d *diagnoser) consumerRules(in diagInput, out []Diagnosis) []Diagnosis {
	rules := [...]string{RuleConsumerSaturated, RuleNobodyPulling, RuleConsumerPaused, RuleRedeliveryStorm}
	for i := range in.consumers {
		c := &in.consumers[i]
		base := c.Stream + "\x00" + c.Name + "\x00"
		if in.fresh[c.Stream] == nil {
			// Not read again this poll: what was found stands.
			for _, r := range rules {
				if h := d.keep(base + r); h != nil && h.last != nil {
					out = append(out, *h.last)
				}
			}
			continue
		}
		out = d.saturated(in.now, c, base, out)
		out = d.notPulled(in.now, c, base, out)
		out = d.storm(in.now, c, base, out)
	}
	return out
}

func (d *diagnoser) saturated(now time.Time, c *Consumer, base string, out []Diagnosis) []Diagnosis {
	h := d.hold(base+RuleConsumerSaturated, now, c.MaxAckPending > 0 && c.AckPending >= c.MaxAckPending,
		func(h *held) { h.count = c.Pending })
	if h == nil || now.Sub(h.since) < consumerWindow || c.Pending <= h.count {
		return out
	}
	held := now.Sub(h.since)
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: consumerAbout(c), Rule: RuleConsumerSaturated, Screen: ScreenConsumers, Stream: c.Stream, Consumer: c.Name,
		Finding: fmt.Sprintf("%s › %s is saturated: every message it may leave unacknowledged is out (max_ack_pending %s), so the server delivers no more until acks come back, and unprocessed keeps growing: its handlers ack slower than messages arrive",
			c.Stream, c.Name, num(c.MaxAckPending)),
		Evidence: fmt.Sprintf("ack pending %s/%s for %s; unprocessed %s → %s (+%s); delivered %s, acked %s",
			num(c.AckPending), num(c.MaxAckPending), ago(held), num(h.count), num(c.Pending),
			perSecond(float64(c.Pending-h.count)/held.Seconds()), perSecond(c.DeliveredRate), perSecond(c.AckedRate)),
	})
}

// notPulled: a pull consumer with work waiting, no pull request waiting
// and no delivery for the window, while its work grows; or a paused one.
func (d *diagnoser) notPulled(now time.Time, c *Consumer, base string, out []Diagnosis) []Diagnosis {
	key := base + RuleNobodyPulling
	// A consumer with every ack outstanding is saturated, not unread.
	idle := c.Pull && !c.Paused && c.Waiting == 0 && c.Pending > 0 && (c.MaxAckPending <= 0 || c.AckPending < c.MaxAckPending)
	if h := d.held[key]; idle && h != nil && !c.LastDelivery.Equal(h.at) {
		delete(d.held, key) // it delivered: start again
	}
	lastDelivery := "never delivered"
	if !c.LastDelivery.IsZero() {
		lastDelivery = "last delivery " + ago(c.TimeStamp.Sub(c.LastDelivery)) + " ago"
	}
	if h := d.hold(key, now, idle, func(h *held) { h.count, h.at = c.Pending, c.LastDelivery }); h != nil &&
		now.Sub(h.since) >= consumerWindow && c.Pending > h.count {
		out = report(out, h, Diagnosis{
			Severity: LevelCritical, About: consumerAbout(c), Rule: RuleNobodyPulling, Screen: ScreenConsumers, Stream: c.Stream, Consumer: c.Name,
			Finding: fmt.Sprintf("nobody is pulling from %s › %s: its unprocessed messages grow, no client has a pull request waiting and nothing was delivered for %s — the application that reads it is down or stuck",
				c.Stream, c.Name, ago(now.Sub(h.since))),
			Evidence: fmt.Sprintf("unprocessed %s → %s in %s; waiting pulls 0; %s", num(h.count), num(c.Pending), ago(now.Sub(h.since)), lastDelivery),
		})
	}
	if h := d.hold(base+RuleConsumerPaused, now, c.Paused && c.Pending > 0, func(h *held) { h.count = c.Pending }); h != nil &&
		now.Sub(h.since) >= consumerWindow && c.Pending > h.count {
		out = report(out, h, Diagnosis{
			Severity: LevelWarn, About: consumerAbout(c), Rule: RuleConsumerPaused, Screen: ScreenConsumers, Stream: c.Stream, Consumer: c.Name,
			Finding: fmt.Sprintf("%s › %s is paused on the server, so nothing is delivered while its unprocessed messages grow; they flow again when it resumes", c.Stream, c.Name),
			Evidence: fmt.Sprintf("paused, %s left; unprocessed %s → %s in %s; %s",
				ago(c.PauseRemaining), num(h.count), num(c.Pending), ago(now.Sub(h.since)), lastDelivery),
		})
	}
	return out
}

func (d *diagnoser) storm(now time.Time, c *Consumer, base string, out []Diagnosis) []Diagnosis {
	h := d.hold(base+RuleRedeliveryStorm, now, c.Redelivered >= stormMin, nil)
	if h == nil || now.Sub(h.since) < consumerWindow {
		return out
	}
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: consumerAbout(c), Rule: RuleRedeliveryStorm, Screen: ScreenConsumers, Stream: c.Stream, Consumer: c.Name,
		Finding: fmt.Sprintf("%s › %s is redelivering: messages go out again because their ack did not come back within the ack wait — handlers fail, take longer than the ack wait, or do not ack",
			c.Stream, c.Name),
		Evidence: fmt.Sprintf("%s of %s messages awaiting ack were delivered more than once, for %s; delivered %s, acked %s",
			num(c.Redelivered), num(c.AckPending), ago(now.Sub(h.since)), perSecond(c.DeliveredRate), perSecond(c.AckedRate)),
	})
}

// streamRules: full and refusing, dropping what a consumer has not read,
// no leader, replicas offline or lagging.
func (d *diagnoser) streamRules(in diagInput, out []Diagnosis) []Diagnosis {
	unread := map[string]*Consumer{} // each stream's consumer with most unprocessed
	for i := range in.consumers {
		c := &in.consumers[i]
		if u := unread[c.Stream]; u == nil || c.Pending > u.Pending {
			unread[c.Stream] = c
		}
	}
	for _, info := range in.infos {
		out = d.limits(in.now, info, unread[info.Config.Name], out)
	}
	for i := range in.streams {
		out = d.cluster(in.now, &in.streams[i], out)
	}
	return out
}

// full says whether a stream is at a limit, and which.
func full(info *jetstream.StreamInfo) (limit string, ok bool) {
	cfg, st := &info.Config, &info.State
	switch {
	case cfg.MaxMsgs > 0 && st.Msgs >= uint64(cfg.MaxMsgs):
		return fmt.Sprintf("%s of %s messages (max_msgs)", num(st.Msgs), num(cfg.MaxMsgs)), true
	case cfg.MaxBytes > 0 && st.Msgs > 0 && st.Bytes+st.Bytes/st.Msgs > uint64(cfg.MaxBytes):
		// One more message of the average size would not fit.
		return fmt.Sprintf("%s of %s bytes (max_bytes)", num(st.Bytes), num(cfg.MaxBytes)), true
	}
	return "", false
}

func (d *diagnoser) limits(now time.Time, info *jetstream.StreamInfo, unread *Consumer, out []Diagnosis) []Diagnosis {
	name := info.Config.Name
	limit, isFull := full(info)
	about := "stream " + name
	if info.Config.Discard == jetstream.DiscardNew {
		h := d.hold(name+"\x00"+RuleStreamFull, now, isFull, func(h *held) { h.count = info.State.LastSeq })
		if h == nil || now.Sub(h.since) < streamWindow {
			return out
		}
		stored := "nothing stored since"
		if n := info.State.LastSeq - h.count; n > 0 {
			stored = num(n) + " stored since, as others were removed"
		}
		return report(out, h, Diagnosis{
			Severity: LevelCritical, About: about, Rule: RuleStreamFull, Screen: ScreenStreams, Stream: name,
			Finding:  fmt.Sprintf("stream %s is full and discards new messages: publishes to it are refused until messages are removed or its limit is raised", name),
			Evidence: fmt.Sprintf("%s for %s (discard new); %s", limit, ago(now.Sub(h.since)), stored),
		})
	}
	dropping := isFull && unread != nil && float64(unread.Pending) >= unreadShare*float64(info.State.Msgs)
	h := d.hold(name+"\x00"+RuleStreamDropping, now, dropping, func(h *held) { h.count = info.State.FirstSeq })
	if h == nil || now.Sub(h.since) < streamWindow || info.State.FirstSeq <= h.count {
		return out
	}
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: about, Rule: RuleStreamDropping, Screen: ScreenStreams, Stream: name,
		Finding: fmt.Sprintf("stream %s is at its limit and drops its oldest messages while %s has not read them: what it has not read yet is being lost to it", name, unread.Name),
		Evidence: fmt.Sprintf("%s (discard old); first seq %s → %s in %s; %s unprocessed by %s",
			limit, num(h.count), num(info.State.FirstSeq), ago(now.Sub(h.since)), num(unread.Pending), unread.Name),
	})
}

// cluster judges a replicated stream's leader and replicas, from its
// Stream.Cluster: what the Servers screen shows is what is judged.
func (d *diagnoser) cluster(now time.Time, st *Stream, out []Diagnosis) []Diagnosis {
	ci, name := st.Cluster, st.Name
	if ci == nil || st.Replicas <= 1 {
		return out
	}
	about := "stream " + name
	offline := 0
	for _, r := range ci.Replicas {
		if r.Offline {
			offline++
		}
	}
	if h := d.hold(name+"\x00"+RuleNoLeader, now, ci.Leader == "", nil); h != nil && now.Sub(h.since) >= streamWindow {
		out = report(out, h, Diagnosis{
			Severity: LevelCritical, About: about, Rule: RuleNoLeader, Screen: ScreenServers, Stream: name,
			Finding:  fmt.Sprintf("stream %s has no leader: too few of its replicas are up to elect one, so it neither stores nor delivers messages", name),
			Evidence: fmt.Sprintf("no leader for %s; %d replicas, %d of the others reported offline", ago(now.Sub(h.since)), st.Replicas, offline),
		})
	}
	for _, r := range ci.Replicas {
		key := name + "\x00" + r.Name + "\x00"
		if h := d.hold(key+RuleReplicaOffline, now, r.Offline, nil); h != nil && now.Sub(h.since) >= streamWindow {
			out = report(out, h, Diagnosis{
				Severity: LevelWarn, About: about, Rule: RuleReplicaOffline, Screen: ScreenServers, Stream: name,
				Finding: fmt.Sprintf("replica %s of stream %s is offline: the stream keeps %d of its %d copies, and loses its quorum if %d more go",
					r.Name, name, st.Replicas-offline, st.Replicas, quorumSlack(st.Replicas, offline)),
				Evidence: fmt.Sprintf("offline for %s, last seen %s ago; leader %s", ago(now.Sub(h.since)), ago(r.Active), orNone(ci.Leader)),
			})
		}
		lagging := !r.Offline && !r.Current && r.Lag > 0
		if h := d.hold(key+RuleReplicaLagging, now, lagging, nil); h != nil && now.Sub(h.since) >= lagWindow {
			out = report(out, h, Diagnosis{
				Severity: LevelWarn, About: about, Rule: RuleReplicaLagging, Screen: ScreenServers, Stream: name,
				Finding:  fmt.Sprintf("replica %s of stream %s is behind its leader %s and not catching up: a slow disk or network on %s, or a replica recovering", r.Name, name, orNone(ci.Leader), r.Name),
				Evidence: fmt.Sprintf("%s operations behind for %s, last active %s ago", num(r.Lag), ago(now.Sub(h.since)), ago(r.Active)),
			})
		}
	}
	return out
}

// quorumSlack is how many more replicas of n may go before the stream
// has no quorum, with offline already gone.
func quorumSlack(n, offline int) int { return max(0, n-offline-(n/2+1)+1) }

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// apiRule: the account's JetStream API errors rising.
func (d *diagnoser) apiRule(in diagInput, out []Diagnosis) []Diagnosis {
	if in.api != nil {
		d.api.push(apiSample{at: in.now, total: in.api.Total, errors: in.api.Errors})
	}
	n := d.api.len()
	key := RuleAPIErrors
	if n < 2 {
		return out
	}
	last := d.api.at(n - 1)
	first := last
	for i := n - 2; i >= 0; i-- {
		s := d.api.at(i)
		if last.at.Sub(s.at) > apiWindow {
			break
		}
		first = s
	}
	span := last.at.Sub(first.at)
	errs := sub0(last.errors, first.errors)
	rising := span >= 2*apiInfoEvery && errs >= apiErrorsMin
	h := d.hold(key, in.now, rising, nil)
	if h == nil {
		return out
	}
	total := sub0(last.total, first.total)
	share := ""
	if total > 0 {
		share = fmt.Sprintf(" (%.0f %%)", 100*float64(errs)/float64(total))
	}
	return report(out, h, Diagnosis{
		Severity: LevelWarn, About: "JetStream API", Rule: RuleAPIErrors, Screen: ScreenOverview,
		Finding: "JetStream API errors are rising: clients ask for streams or consumers that do not exist, send requests the server refuses, or are not permitted",
		Evidence: fmt.Sprintf("%s of %s API requests failed in %s%s (account api.errors %s → %s)",
			num(errs), num(total), ago(span), share, num(first.errors), num(last.errors)),
	})
}

// oneLine keeps the first line of s: reasons are the server's or a
// client's text.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}
