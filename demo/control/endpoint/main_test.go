package endpoint_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/sagascope/sagascope/demo/control"
	"github.com/sagascope/sagascope/demo/control/endpoint/endpointtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demo is a server with the demo's resources and a client of the control
// API on the demo's connection; no endpoint runs until the test calls
// Serve.
type demo struct {
	*endpointtest.Demo
	client *control.Client
}

func startDemo(t *testing.T) *demo {
	t.Helper()
	d := endpointtest.Start(t)
	return &demo{Demo: d, client: control.NewClient(d.NC)}
}
