package feed_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The separate server's logins: APP holds the layout and is what the
// dashboard reads by default; SYS is the system account, for a feed that
// asks the server about every account at once.
const (
	appUser, appPassword = "app", "app"
	sysUser, sysPassword = "sys", "sys"
)

// serverConfig is the separate server's configuration. Random ports, told
// back through the ports file, so runs at the same time never collide.
const serverConfig = `listen: "127.0.0.1:-1"
http: "127.0.0.1:-1"
ports_file_dir: %q
accounts {
  APP { jetstream: enabled, users: [{user: %q, password: %q}] }
  SYS { users: [{user: %q, password: %q}] }
}
system_account: SYS
`

// serverProcess is a nats-server running as a child process, not in the
// test's process, so that its CPU is measured apart from the dashboard's
// and the dashboard reaches it over TCP loopback as it would any server.
type serverProcess struct {
	pid        int
	version    string
	clientURL  string
	monitorURL string
	log        string // the server's log file, quoted when it fails
	// http reads the monitoring port without keep-alive, so no idle
	// connection's goroutines outlive the test.
	http *http.Client
}

// startServer builds nats-server from the module cache (the module is a
// dependency; a few seconds, offline), runs it with JetStream on a
// temporary directory and waits until it is healthy. It is killed and
// waited for when tb ends.
func startServer(tb testing.TB) *serverProcess {
	tb.Helper()
	dir := tb.TempDir()
	bin := filepath.Join(dir, "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		tb.Fatalf("build nats-server: %v\n%s", err, out)
	}
	version, err := exec.Command(bin, "--version").Output()
	if err != nil {
		tb.Fatalf("nats-server --version: %v", err)
	}
	conf := filepath.Join(dir, "server.conf")
	text := fmt.Sprintf(serverConfig, dir, appUser, appPassword, sysUser, sysPassword)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	s := &serverProcess{
		version: strings.TrimPrefix(strings.TrimSpace(string(version)), "nats-server: "),
		log:     filepath.Join(dir, "server.log"),
		http:    &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
	logFile, err := os.Create(s.log)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf, "-js", "-sd", filepath.Join(dir, "js"))
	cmd.Stdout, cmd.Stderr = logFile, logFile // files: no copying goroutines
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start nats-server: %v", err)
	}
	s.pid = cmd.Process.Pid
	tb.Cleanup(func() {
		// Killed, not shut down: 10,000 file streams take a while to
		// close, and the store is thrown away.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logFile.Close()
	})
	if err := s.await(dir, 10*time.Second); err != nil {
		tb.Fatalf("nats-server did not start: %v\n%s", err, s.logTail())
	}
	return s
}

// await reads the ports from the server's ports file, then waits for its
// health check to pass.
func (s *serverProcess) await(dir string, timeout time.Duration) error {
	portsFile := filepath.Join(dir, fmt.Sprintf("nats-server_%d.ports", s.pid))
	var last error
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s.clientURL == "" {
			var ports struct{ Nats, Monitoring []string }
			data, err := os.ReadFile(portsFile)
			if err == nil {
				err = json.Unmarshal(data, &ports)
			}
			if err != nil || len(ports.Nats) == 0 || len(ports.Monitoring) == 0 {
				last = fmt.Errorf("ports file %s: %v", portsFile, err)
				continue
			}
			s.clientURL, s.monitorURL = ports.Nats[0], ports.Monitoring[0]
		}
		resp, err := s.http.Get(s.monitorURL + "/healthz")
		if err != nil {
			last = err
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("healthz: %s", resp.Status)
	}
	return last
}

func (s *serverProcess) logTail() string {
	data, _ := os.ReadFile(s.log)
	return string(data[max(0, len(data)-4000):])
}

// dial connects to the server as user; the connection is closed when tb
// ends.
func (s *serverProcess) dial(tb testing.TB, name, user, password string) *nats.Conn {
	tb.Helper()
	nc, err := nats.Connect(s.clientURL, nats.Name(name), nats.UserInfo(user, password))
	if err != nil {
		tb.Fatalf("connect to %s as %s: %v", s.clientURL, user, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// serverSample is the server's counters at one moment: its CPU time and
// JetStream's own count of API requests.
type serverSample struct {
	at                   time.Time
	cpu                  time.Duration
	apiTotal, apiErrored uint64
	// streams and consumers are what the server holds, in all accounts.
	streams, consumers int
}

// sample reads the server's counters.
func (s *serverProcess) sample() (serverSample, error) {
	cpu, err := processTicks(s.pid)
	if err != nil {
		return serverSample{}, err
	}
	resp, err := s.http.Get(s.monitorURL + "/jsz")
	if err != nil {
		return serverSample{}, fmt.Errorf("read /jsz: %w", err)
	}
	defer resp.Body.Close()
	var jsz struct {
		Streams   int `json:"streams"`
		Consumers int `json:"consumers"`
		API       struct {
			Total  uint64 `json:"total"`
			Errors uint64 `json:"errors"`
		} `json:"api"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return serverSample{}, fmt.Errorf("decode /jsz: %w", err)
	}
	return serverSample{at: time.Now(), cpu: cpu, apiTotal: jsz.API.Total, apiErrored: jsz.API.Errors,
		streams: jsz.Streams, consumers: jsz.Consumers}, nil
}

// mustSample reads the server's counters, or ends tb.
func (s *serverProcess) mustSample(tb testing.TB) serverSample {
	tb.Helper()
	sample, err := s.sample()
	if err != nil {
		tb.Fatal(err)
	}
	return sample
}

// serverLoad is what the server did between two samples.
type serverLoad struct {
	// CPU is in per cent of one core.
	CPU float64
	// APIRate is JetStream API requests per second; APIErrors counts the
	// ones that failed.
	APIRate   float64
	APIErrors uint64
}

func (a serverSample) until(b serverSample) serverLoad {
	dt := b.at.Sub(a.at)
	return serverLoad{
		CPU:       share(b.cpu-a.cpu, dt),
		APIRate:   float64(b.apiTotal-a.apiTotal) / dt.Seconds(),
		APIErrors: b.apiErrored - a.apiErrored,
	}
}

// share is cpu as per cent of one core over wall.
func share(cpu, wall time.Duration) float64 { return 100 * cpu.Seconds() / wall.Seconds() }

// processTicks is the user and system CPU time of process pid, from
// /proc/<pid>/stat.
func processTicks(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read server CPU: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count from the last ')'. utime and stime are fields 14 and 15.
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("read server CPU: short /proc/%d/stat", pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read server CPU: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick(), nil
}

// clockTick is the unit of /proc/<pid>/stat (USER_HZ): 1/100 s on every
// mainstream Linux build, asked of getconf in case.
var clockTick = sync.OnceValue(func() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if n, perr := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && perr == nil && n > 0 {
		return time.Second / time.Duration(n)
	}
	return 10 * time.Millisecond
})
