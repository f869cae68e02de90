// Package streampub publishes events the dispatcher makes itself (the due scheduler's
// reminders, the ops flusher's operational events) to the event stream, each under its own
// event id so that JetStream de-duplicates a repeat within its duplicate window.
package streampub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Message is one event to publish.
type Message struct {
	Subject, ID string
	Body        []byte
}

// Publisher stores events durably in the event stream, each with Nats-Msg-Id set to its id.
type Publisher interface {
	Publish(ctx context.Context, msgs []Message) error
}

// JetStream publishes to the event stream and waits for every acknowledgement.
type JetStream struct {
	JS      jetstream.JetStream
	Stream  string
	Timeout time.Duration // for a whole call, acknowledgements included
}

// Timeout is the usual JetStream.Timeout: long enough for a stream leader election in a
// cluster, short enough that a caller (who retries at its next period) is not held.
const Timeout = 5 * time.Second

// Publish implements Publisher.
func (p *JetStream) Publish(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for _, m := range msgs {
		f, err := p.JS.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Body, Header: nats.Header{jetstream.MsgIDHeader: []string{m.ID}}},
			jetstream.WithExpectStream(p.Stream))
		if err != nil {
			return fmt.Errorf("publish %s: %w", m.ID, err)
		}
		futures = append(futures, f)
	}
	var errs []error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			errs = append(errs, fmt.Errorf("publish %s: %w", msgs[i].ID, err))
		case <-ctx.Done():
			return fmt.Errorf("publish: %w", ctx.Err())
		}
	}
	return errors.Join(errs...)
}
