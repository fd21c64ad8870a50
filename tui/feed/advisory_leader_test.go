package feed

import (
	"testing"
	"time"
)

// Both reports of a stream's election name the new leader in
// Advisory.Leader, which the Events screen matches them by: the server's
// advisory and the feed's own leader_changed.
func TestBothReportsOfAnElectionNameTheNewLeader(t *testing.T) {
	raw := `{"type":"io.nats.jetstream.advisory.v1.stream_leader_elected","id":"x","timestamp":"2026-12-02T11:50:57Z","stream":"SAGA_ORDERS","leader":"s2","replicas":[]}`
	a := decodeAdvisory("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.SAGA_ORDERS", []byte(raw))
	if a.Kind != "stream_leader_elected" || a.Stream != "SAGA_ORDERS" || a.Leader != "s2" {
		t.Errorf("advisory decoded as kind %q stream %q leader %q, want stream_leader_elected SAGA_ORDERS s2", a.Kind, a.Stream, a.Leader)
	}
	e := leaderEvent("SAGA_ORDERS", "s1", "s2", time.Date(2026, 12, 2, 11, 50, 57, 0, time.UTC))
	if e.Kind != KindLeaderChanged || e.Leader != "s2" || e.Detail != "leader s1 → s2" {
		t.Errorf("leader change made as kind %q leader %q detail %q, want %s s2 \"leader s1 → s2\"", e.Kind, e.Leader, e.Detail, KindLeaderChanged)
	}
}
