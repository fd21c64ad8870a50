package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// `sagascope --cluster 3` runs the demo on three clustered embedded
// servers: sagas complete, and `status --json` shows the three servers
// and each stream's leader with two replicas.
func TestTheDefaultOnAClusterOfThreeRunsSagasOnR3Streams(t *testing.T) {
	bin := binary(t)
	d := startDefault(t, bin, "--cluster", "3", "--data", t.TempDir(), "--load", "20")
	urls := urlIn(t, d.seen, `tui --server (\S+)'`)
	if n := len(strings.Split(urls, ",")); n != 3 {
		t.Fatalf("%d URLs in %q, want 3", n, urls)
	}
	out, err := exec.Command(bin, "status", "--json", "--server", urls).Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var snap struct {
		Servers []struct {
			Name    string `json:"name"`
			Offline bool   `json:"offline"`
			Leads   int    `json:"leads"`
		} `json:"servers"`
		Streams []struct {
			Name     string `json:"name"`
			Replicas int    `json:"replicas"`
			Cluster  *struct {
				Leader   string `json:"leader"`
				Replicas []struct {
					Name string `json:"name"`
				} `json:"replicas"`
			} `json:"cluster"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &snap); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	leads := 0
	for _, s := range snap.Servers {
		if s.Offline {
			t.Errorf("server %s is offline", s.Name)
		}
		leads += s.Leads
	}
	if len(snap.Servers) != 3 || leads != len(snap.Streams) {
		t.Errorf("servers %+v; want 3, leading the %d streams between them", snap.Servers, len(snap.Streams))
	}
	// The same for a person: the servers by name.
	if text, err := exec.Command(bin, "status", "--server", urls).Output(); err != nil || !strings.Contains(string(text), "servers: s1, s2, s3") {
		t.Errorf("status (%v) does not name the three servers:\n%s", err, text)
	}
	for _, s := range snap.Streams {
		if s.Replicas != 3 || s.Cluster == nil || s.Cluster.Leader == "" || len(s.Cluster.Replicas) != 2 {
			t.Errorf("stream %s: %d replicas, cluster %+v; want R3 with a leader and two replicas", s.Name, s.Replicas, s.Cluster)
		}
	}
}
