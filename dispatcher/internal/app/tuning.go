package app

import "time"

// Tuning that is not configuration: each value is a trade measured or reasoned once, named here
// with its reason so that it is changed in one place.
const (
	// writeBatch and writeInterval: the delivery writer records up to 500 outcomes in one
	// statement, at least every 20 ms. A larger batch buys little once the statement dominates;
	// 20 ms keeps a delivery's recorded outcome well under the latency aim (p99 20 ms at 500/s).
	writeBatch    = 500
	writeInterval = 20 * time.Millisecond

	// consumeBatchWait: how long a consumer batch waits to fill after its first event. Short:
	// at low rates every event would otherwise wait this long before its attempt.
	consumeBatchWait = 2 * time.Millisecond
	// consumeWorkers: batches fanned out at once. Four keep PostgreSQL commits overlapping on
	// two cores; more made batches smaller and PostgreSQL busier (BENCHMARKS.md).
	consumeWorkers = 4
	// maxAckPending: events delivered by JetStream and not yet acknowledged, all replicas. It
	// bounds memory when PostgreSQL stalls, well above what a replica holds in flight.
	maxAckPending = 20000

	// dueBatch: reminders claimed per transaction; a transaction waits for JetStream's
	// acknowledgement of each, so it is kept short.
	dueBatch = 200
	// escalationBatch: alerts escalated per pass of the escalation scheduler.
	escalationBatch = 100
	// opsBatch: operational events published per pass of the ops flusher.
	opsBatch = 100
	// observeEvery: how often webhook health is compared with what was last announced; the ops
	// interval (minutes) coalesces what it finds, so this only bounds the detection delay.
	observeEvery = 2 * time.Second

	// cacheRefresh: how often each replica reloads the webhooks from PostgreSQL, so that a change
	// made through another replica applies within a second.
	cacheRefresh = time.Second

	// resealBatch and resealRetry: rows re-sealed per statement after a key rotation, and the wait
	// before a pass that failed is tried again.
	resealBatch = 500
	resealRetry = 10 * time.Minute

	// replayScanFactor: a replay scans at most this many deliveries per one it may re-queue
	// (TASKHOOK_REPLAY_LIMIT), bounding the cost of a narrow filter over a long history.
	replayScanFactor = 20

	// disableEvery and pruneEvery: housekeeping periods. Deactivation is measured in hours
	// (TASKHOOK_DISABLE_AFTER >= 1h), so a minute is precise enough; pruning keeps days
	// (TASKHOOK_RETENTION >= 24h), so every ten minutes in pruneBatch-row statements keeps each
	// short and the table small.
	disableEvery = time.Minute
	pruneEvery   = 10 * time.Minute
	pruneBatch   = 1000

	// connectRetryFirst and connectRetryMax: the backoff while PostgreSQL or the NATS consumer
	// is not reachable at start.
	connectRetryFirst = 250 * time.Millisecond
	connectRetryMax   = 5 * time.Second
	// consumerTimeout bounds one attempt to create or update the durable consumer.
	consumerTimeout = 5 * time.Second
)
