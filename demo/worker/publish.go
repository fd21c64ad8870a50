package worker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
)

// Publish stores env on its subject and waits for the stream's ack, so a
// handler that returns after Publish knows its next message is durable.
// The envelope id is the Nats-Msg-Id: a re-publish after a crash is dropped
// by the stream's duplicate window.
func Publish(ctx context.Context, js jetstream.JetStream, env contract.Envelope) error {
	data, err := env.Encode()
	if err != nil {
		return fmt.Errorf("encode %s for %s: %w", env.Type, env.SagaID, err)
	}
	msg := nats.NewMsg(contract.Subject(env.Type))
	msg.Data = data
	msg.Header.Set(contract.MsgIDHeader, env.ID)
	msg.Header.Set(contract.SagaHeader, env.SagaID)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		return fmt.Errorf("publish %s for %s: %w", env.Type, env.SagaID, err)
	}
	return nil
}
