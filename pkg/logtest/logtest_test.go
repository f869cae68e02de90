package logtest

import (
	"errors"
	"testing"

	"go.uber.org/zap"
)

func TestViolations(t *testing.T) {
	log, rec := New(SeedPHI...)
	log.Info("event stored", zap.String("event_id", "e1"), zap.String("request_id", "VViIKDoedgNrDD"))
	if v := rec.Violations(); len(v) != 0 {
		t.Fatalf("false positive: %v", v)
	}
	log.Warn("render failed", zap.Error(errors.New(`bad value "John"`)))
	log.Info("title", zap.String("title", "Follow up with patient"))
	log.Debug("patient", zap.Any("patient", map[string]string{"birth_date": "1980-05-15"}))
	if v := rec.Violations(); len(v) != 3 {
		t.Fatalf("%d violations, want 3: %v", len(v), v)
	}
}
