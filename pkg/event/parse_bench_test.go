package event_test

import (
	"encoding/json"
	"github.com/taskhook/taskhook/pkg/event"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	body := seed(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValid(b *testing.B) {
	body := seed(b)
	b.ReportAllocs()
	for b.Loop() {
		if !json.Valid(body) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkParseTime(b *testing.B) {
	body := seed(b)
	b.ReportAllocs()
	for b.Loop() {
		var h struct {
			OccurredAt *string `json:"occurred_at"`
		}
		if err := json.Unmarshal(body, &h); err != nil {
			b.Fatal(err)
		}
	}
}
