package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
)

// BenchmarkConsumerBatch measures the database side of one consumer batch of 256 events to
// one webhook, each delivered on its first attempt: the write that happens before the ack.
func BenchmarkConsumerBatch(b *testing.B) {
	db := openB(b)
	ctx := context.Background()
	w := webhookB(b, db)
	payload := make([]byte, 650)
	_, _ = rand.Read(payload)
	const n = 256
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var batch Batch
		now := time.Now()
		ids := make([]uuid.UUID, n)
		for k := 0; k < n; k++ {
			id := fmt.Sprintf("ev-%d-%d", i, k)
			ids[k] = uuid.New()
			batch.Events = append(batch.Events, Event{ID: id, Subject: "task.created", Payload: payload})
			batch.New = append(batch.New, NewDelivery{ID: ids[k], WebhookID: w.ID, EventID: id, EventType: "task.created",
				State: State{Status: StatusSucceeded, Attempts: 1, LastStatusCode: 204}})
			batch.Attempts = append(batch.Attempts, Attempt{DeliveryID: ids[k], WebhookID: w.ID, N: 1, StartedAt: now, Duration: time.Millisecond, StatusCode: 204, Succeeded: true, Inline: true})
		}
		if _, err := db.ExistingDeliveries(ctx, ids); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n)/1000, "µs/delivery")
}

func openB(b *testing.B) *DB {
	b.Helper()
	ctx := context.Background()
	db, err := Open(ctx, newDatabaseB(b), 8)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return db
}
