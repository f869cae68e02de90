package event

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Head is what the dispatcher needs of every event before matching: far cheaper to decode
// than the whole Task (most webhooks, generic ones, never need more).
type Head struct {
	EventID    string     `json:"event_id"`
	OccurredAt *time.Time `json:"occurred_at"`
}

// ParseHead decodes the head of a published event; an error means the message is not a JSON
// object of the expected shape.
func ParseHead(data []byte) (Head, error) {
	var h Head
	if err := json.Unmarshal(data, &h); err != nil {
		return h, fmt.Errorf("decode task event: %w", err)
	}
	return h, nil
}

// Lazy is a published event whose Task is decoded on first use and then shared (by every
// delivery of the event).
type Lazy struct {
	raw  []byte
	once sync.Once
	task *Task
	err  error
}

// NewLazy wraps published event JSON.
func NewLazy(raw []byte) *Lazy { return &Lazy{raw: raw} }

// Raw is the event JSON as published.
func (l *Lazy) Raw() []byte { return l.raw }

// Task decodes the event (once).
func (l *Lazy) Task() (*Task, error) {
	l.once.Do(func() { l.task, l.err = Parse(l.raw) })
	return l.task, l.err
}
