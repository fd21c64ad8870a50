package worker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/sagascope/sagascope/demo/contract"
	"github.com/sagascope/sagascope/telemetry/sagaspan"
)

// Publish stores env on its subject and waits for the stream's ack, so a
// handler that returns after Publish knows its next message is durable.
// The envelope id is the Nats-Msg-Id: a re-publish after a crash is dropped
// by the stream's duplicate window. When ctx holds a span (a handler's
// consumer span), the publish is traced as its child and the trace context
// travels in the message's headers.
func Publish(ctx context.Context, js jetstream.JetStream, env contract.Envelope) error {
	data, err := env.Encode()
	if err != nil {
		return fmt.Errorf("encode %s for %s: %w", env.Type, env.SagaID, err)
	}
	msg := nats.NewMsg(contract.Subject(env.Type))
	msg.Data = data
	msg.Header.Set(contract.MsgIDHeader, env.ID)
	msg.Header.Set(contract.SagaHeader, env.SagaID)
	// A producer span, child of the handler's consumer span, whose context
	// travels in the headers to whoever consumes the message.
	pctx, span := sagaspan.Publish(ctx, msg)
	ack, err := js.PublishMsg(pctx, msg)
	sagaspan.Published(span, ack, err)
	if err != nil {
		return fmt.Errorf("publish %s for %s: %w", env.Type, env.SagaID, err)
	}
	return nil
}
