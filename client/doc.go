// Package client is the Go client of Taskhook: publish events to ingest, drive the
// dispatcher's admin API, and verify the Standard Webhooks signature of a delivery.
//
// It depends on the standard library only, so publishers and receivers can take it without
// taking Taskhook's dependencies.
//
//   - [Publisher] publishes one event ([Publisher.Publish]) or a batch of up to 1000
//     ([Publisher.PublishBatch]) with an Idempotency-Key: a 503 (the event could not be stored)
//     or a lost connection is retried after Retry-After with the same event id, so a retry never
//     publishes twice; a 4xx is never retried.
//   - [Admin] covers webhooks (create, list, get, update, pause, resume, test, delete), the
//     delivery log (list, get, retry), replay and stats.
//   - Every non-2xx answer is an [*Error] carrying the status, the message and the details
//     (JSON pointers into what was sent); errors.Is matches it against [ErrNotFound],
//     [ErrInvalid] and the other sentinels.
//   - [Verify] checks a delivery's webhook-id, webhook-timestamp and webhook-signature headers
//     against the webhook's whsec_ secret, with a tolerance for clock skew and any number of
//     signatures (a rotation sends two).
package client
