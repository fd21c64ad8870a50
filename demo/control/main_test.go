package control

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/nats-io/nats.go"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo is a server with the demo's resources and a client on the demo's
// connection; no control endpoint runs until the test calls Serve.
type demo struct {
	*endpointtest.Demo
	client *Client
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	return withClient(endpointtest.Start(t))
}

// newDemo creates the demo's resources on the server at url, logged in
// with login.
func newDemo(t *testing.T, url string, login ...nats.Option) *demo {
	t.Helper()
	return withClient(endpointtest.New(t, url, login...))
}

func withClient(d *endpointtest.Demo) *demo { return &demo{Demo: d, client: NewClient(d.NC)} }
