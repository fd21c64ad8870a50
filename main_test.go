package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sagascope/sagascope/demo/embedded"
)

// binary builds sagascope once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sagascope")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestCommandLineErrorsAreOneClearLine(t *testing.T) {
	bin := binary(t)
	tests := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"an unknown command is a usage error", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"an unknown flag is one line, not the flag list", []string{"--bogus"}, 2, "flag provided but not defined: -bogus (see 'sagascope -h')"},
		{"a command's unknown flag names the command", []string{"status", "--bogus"}, 2, "(see 'sagascope status -h')"},
		{"a flag value of the wrong type", []string{"--workers", "many"}, 2, `invalid value "many" for flag -workers`},
		{"a bad flag value is a usage error", []string{"--workers", "0"}, 2, "--workers 0 is not in 1..4096"},
		{"an unknown service is a usage error", []string{"demo", "--services", "orders,billing"}, 2, `unknown service "billing"`},
		{"an unreachable server fails fast", []string{"demo", "--server", "nats://127.0.0.1:1"}, 1, "no server is listening there"},
		{"a URL that is not NATS is refused", []string{"check", "--server", "http://example.com"}, 1, "not a NATS scheme"},
		{"a trace ratio above 1 is a usage error", []string{"--trace-ratio", "2"}, 2, "--trace-ratio 2 is not in 0..1"},
		{"an unknown log format is a usage error", []string{"demo", "--log-format", "xml"}, 2, "--log-format"},
		{"the dashboard needs a terminal", []string{"tui"}, 2, "stdout is not a terminal"},
		{"a negative history is a usage error", []string{"tui", "--history", "-1m"}, 2, "--history -1m0s is negative"},
		{"status without a server fails", []string{"status", "--json", "--server", "nats://127.0.0.1:1"}, 1, "no server is listening there"},
		{"status cannot watch for a negative time", []string{"status", "--for", "-5s"}, 2, "status: --for -5s: the time to watch cannot be negative"},
		{"a fault command without a server fails", []string{"fault", "list", "--server", "nats://127.0.0.1:1"}, 1, "no server is listening there"},
		{"a cluster of two is refused", []string{"--cluster", "2"}, 2, "--cluster 2: use 3 or 5"},
		{"a cluster takes no port", []string{"--cluster", "3", "--port", "4333"}, 2, "--port does not go with --cluster"},
		{"a cluster holds no more replicas than nodes", []string{"--cluster", "3", "--replicas", "5"}, 2, "--replicas 5 is more than the 3 nodes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, tt.args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.says) {
				t.Fatalf("stderr is not one line saying %q:\n%s", tt.says, stderr.String())
			}
		})
	}
}

// `sagascope bench` hands the dashboard's own feed to the bench's
// dashboard phase (the bench cannot link it): the report shows the feed's
// snapshots and what the last one saw.
func TestBenchAttachesTheDashboardsFeed(t *testing.T) {
	bin := binary(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "bench", "--phases", "saturation,dashboard", "--data", t.TempDir(),
		"--workers", "4", "--backlog", "50", "--warmup", "500ms", "--window", "1s").CombinedOutput()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`dashboard  attached, it costs .*; (\d+) snapshots, last showing`).FindSubmatch(out)
	if m == nil || string(m[1]) == "0" {
		t.Fatalf("the report shows no snapshot of the dashboard's feed:\n%s", out)
	}
}

// The default command runs sagas on an embedded server, and the first
// Ctrl-C shuts it down gracefully with exit 0.
func TestDefaultRunsSagasAndStopsCleanlyOnInterrupt(t *testing.T) {
	bin := binary(t)
	d := startDefault(t, bin, "--data", t.TempDir(), "--fresh", "--load", "50", "--http", "127.0.0.1:0")
	cmd, lines, stderr, seen := d.cmd, d.lines, d.stderr, d.seen
	checkStatusJSON(t, bin, urlIn(t, seen, `on (nats://\S+)`))
	checkMetrics(t, urlIn(t, seen, `metrics on (http://[^\s,]+)`))

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		for l := range lines {
			seen = append(seen, l)
		}
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("did not stop within 30s of SIGINT; stderr:\n%s", stderr.String())
	}
	if last := seen[len(seen)-1]; last != "sagascope: stopped cleanly" {
		t.Fatalf("last line %q, want a clean stop", last)
	}
}

// running is the default command started by startDefault.
type running struct {
	cmd    *exec.Cmd
	lines  chan string // its stdout, line by line, from the line after seen
	stderr *bytes.Buffer
	seen   []string // its stdout up to the first line with completed sagas
}

// startDefault starts the binary with args and returns once it prints a
// status line with sagas completed (within 30 s); the process is killed
// when the test ends.
func startDefault(t *testing.T, bin string, args ...string) running {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := running{cmd: cmd, lines: make(chan string, 100), stderr: &bytes.Buffer{}}
	cmd.Stderr = r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	completing := regexp.MustCompile(`completed [1-9][0-9]*/s`)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case l := <-r.lines:
			r.seen = append(r.seen, l)
			if completing.MatchString(l) {
				return r
			}
		case <-deadline:
			t.Fatalf("no sagas completed within 30s; output:\n%s\nstderr:\n%s", strings.Join(r.seen, "\n"), r.stderr.String())
		}
	}
}

// urlIn finds the first submatch of pattern in the lines printed so far.
func urlIn(t *testing.T, lines []string, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	t.Fatalf("no line matches %s in:\n%s", pattern, strings.Join(lines, "\n"))
	return ""
}

// checkStatusJSON runs `status --json` against the running system and
// checks the snapshot is the live one the dashboard would show.
func checkStatusJSON(t *testing.T, bin, url string) {
	t.Helper()
	out, err := exec.Command(bin, "status", "--json", "--server", url).Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var snap struct {
		Reporting bool `json:"sagascope_reporting"`
		Sagas     struct {
			Completed uint64 `json:"completed"`
		} `json:"sagas"`
		Streams []struct {
			Name string `json:"name"`
		} `json:"streams"`
		Gathering struct {
			Path     string `json:"path"`
			Unlisted int    `json:"unlisted"`
		} `json:"gathering"`
	}
	if err := json.Unmarshal(out, &snap); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	if !snap.Reporting || snap.Sagas.Completed == 0 || len(snap.Streams) == 0 {
		t.Fatalf("status --json: reporting %v, %d completed, %d streams; want a live system",
			snap.Reporting, snap.Sagas.Completed, len(snap.Streams))
	}
	if snap.Gathering.Path != "api" || snap.Gathering.Unlisted != 0 {
		t.Fatalf("status --json: gathering %+v; want the API path, every stream listed", snap.Gathering)
	}
	// The same snapshot for a person: the saga totals and each service.
	text, err := exec.Command(bin, "status", "--server", url).Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	for _, want := range []string{"(read through the JetStream API, ", "sagas: ", " completed", "payment ", "workers busy"} {
		if !strings.Contains(string(text), want) {
			t.Fatalf("status does not say %q:\n%s", want, text)
		}
	}
}

// checkMetrics scrapes the --http endpoint: metrics in Prometheus text
// format and a ready process.
func checkMetrics(t *testing.T, url string) {
	t.Helper()
	for path, want := range map[string]string{"/metrics": "# TYPE ", "/readyz": "", "/livez": ""} {
		resp, err := http.Get(strings.TrimSuffix(url, "/metrics") + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %s\n%.300s", path, resp.Status, body)
		}
	}
}

// A second Ctrl-C during the graceful shutdown exits at once with
// exitAborted. A latency fault of a minute on payment keeps its in-hand
// messages in their handlers, so the graceful path (which finishes them)
// cannot end within the wait below: only the abort can, and its exit code
// says which one did.
func TestSecondInterruptAbortsTheGracefulShutdown(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "--data", t.TempDir(), "--fresh", "--load", "50")
	out := readTranscript(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	out.start()

	out.waitFor(t, "sagas completing", false, regexp.MustCompile(`completed [1-9][0-9]*/s`))
	url := urlIn(t, out.lines(false), `on (nats://\S+)`)
	if b, err := exec.Command(bin, "fault", "set", "payment", "latency", "--latency", "1m", "--server", url).CombinedOutput(); err != nil {
		t.Fatalf("fault set: %v\n%s", err, b)
	}
	waitForBusy(t, bin, url, "payment")

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	// The second signal goes only once the first has been taken: two sent
	// back to back may arrive as one.
	out.waitFor(t, "graceful shutdown starting", true, regexp.MustCompile(`shutting down`))
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatalf("second SIGINT: %v (the graceful shutdown ended first)\n%s", err, out)
	}

	exited := make(chan error, 1)
	go func() {
		<-out.done // Wait closes the pipes: read them to the end first
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("wait: %v", err)
		}
		if code != exitAborted {
			t.Fatalf("exit %d, want %d (aborted)\n%s", code, exitAborted, out)
		}
	case <-time.After(15 * time.Second):
		// The graceful path would take about the minute of latency.
		t.Fatalf("did not exit within 15s of the second SIGINT\n%s", out)
	}
}

// transcript collects a process's stdout and stderr lines as they come, so a
// test can wait for one while the process keeps writing: a pipe nobody
// reads fills up and blocks the process.
type transcript struct {
	stdout, stderr io.Reader
	done           chan struct{} // closed once both reach EOF

	mu          sync.Mutex
	stdoutLines []string
	stderrLines []string
}

// readTranscript attaches pipes to cmd; call start after cmd.Start.
func readTranscript(t *testing.T, cmd *exec.Cmd) *transcript {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	return &transcript{stdout: stdout, stderr: stderr, done: make(chan struct{})}
}

func (o *transcript) start() {
	var wg sync.WaitGroup
	for _, r := range []struct {
		from io.Reader
		into *[]string
	}{{o.stdout, &o.stdoutLines}, {o.stderr, &o.stderrLines}} {
		wg.Go(func() {
			sc := bufio.NewScanner(r.from)
			for sc.Scan() {
				o.mu.Lock()
				*r.into = append(*r.into, sc.Text())
				o.mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(o.done) }()
}

// lines returns a copy of the stdout (or stderr) lines so far.
func (o *transcript) lines(stderr bool) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if stderr {
		return slices.Clone(o.stderrLines)
	}
	return slices.Clone(o.stdoutLines)
}

// waitFor waits up to 30s for a line of stdout (or stderr) matching re.
func (o *transcript) waitFor(t *testing.T, what string, stderr bool, re *regexp.Regexp) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if slices.ContainsFunc(o.lines(stderr), re.MatchString) {
			return
		}
		select {
		case <-o.done:
			if slices.ContainsFunc(o.lines(stderr), re.MatchString) {
				return
			}
			t.Fatalf("exited before %s\n%s", what, o)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30s\n%s", what, o)
		}
	}
}

func (o *transcript) String() string {
	return "stdout:\n" + strings.Join(o.lines(false), "\n") + "\nstderr:\n" + strings.Join(o.lines(true), "\n")
}

// waitForBusy polls `status --json` until a worker of svc holds a message.
func waitForBusy(t *testing.T, bin, url, svc string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(bin, "status", "--json", "--server", url).Output()
		if err != nil {
			t.Fatalf("status --json: %v", err)
		}
		var snap struct {
			Services []struct {
				Name string `json:"name"`
				Pool struct {
					Busy int `json:"busy"`
				} `json:"pool"`
			} `json:"services"`
		}
		if err := json.Unmarshal(out, &snap); err != nil {
			t.Fatalf("status --json is not JSON: %v\n%s", err, out)
		}
		for _, s := range snap.Services {
			if s.Name == svc && s.Pool.Busy > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s worker busy within 30s:\n%s", svc, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A shared session prints, for each role, a command line that logs in with
// the role's inbox prefix: run as printed (the observer's with `fault list`
// for `tui`, which needs a terminal), each lists the faults; without the
// prefix the server refuses the answers.
func TestDefaultPrintsCommandLinesThatWorkForEachRole(t *testing.T) {
	bin := binary(t)
	cmd := exec.Command(bin, "--data", t.TempDir(), "--fresh", "--load", "5", "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0")
	// A given observer password turns logins on on loopback; the
	// operator's is generated, so its command is printed complete.
	cmd.Env = append(cmd.Environ(), embedded.ObserverPasswordEnv+"=watch-only", embedded.OperatorPasswordEnv+"=")
	out := readTranscript(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-out.done; _ = cmd.Wait() })
	out.start()
	out.waitFor(t, "sagas completing", false, regexp.MustCompile(`completed [1-9][0-9]*/s`))

	printed := func(pattern string) []string {
		line := urlIn(t, out.lines(false), pattern)
		return strings.Fields(strings.ReplaceAll(line, "<observer password>", "watch-only"))
	}
	operator := printed(`the operator, on another machine: sagascope fault list (.*)$`)
	observer := printed(`attendees run: sagascope tui (.*)$`)
	withoutPrefix := slices.Clone(operator)
	if i := slices.Index(withoutPrefix, "--inbox-prefix"); i >= 0 {
		withoutPrefix = slices.Delete(withoutPrefix, i, i+2)
	}
	tests := []struct {
		name  string
		flags []string
		says  string
		fails bool
	}{
		{name: "the operator's", flags: operator, says: "no faults"},
		{name: "the observer's", flags: observer, says: "no faults"},
		{name: "the operator's without its inbox prefix", flags: withoutPrefix, says: "--inbox-prefix", fails: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := exec.Command(bin, append([]string{"fault", "list"}, tt.flags...)...).CombinedOutput()
			if (err != nil) != tt.fails || !strings.Contains(string(b), tt.says) {
				t.Fatalf("sagascope fault list %s: %v, want failure %v saying %q\n%s", strings.Join(tt.flags, " "), err, tt.fails, tt.says, b)
			}
		})
	}
}
