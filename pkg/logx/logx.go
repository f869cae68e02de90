// Package logx builds the zap JSON logger every Taskhook process writes to stderr.
//
// Rule for every log line in Taskhook: ids, counts, status codes and durations only; never
// event content (titles, names, birth dates), request bodies or secrets.
package logx

import (
	"fmt"
	"os"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a JSON logger on stderr at level ("debug", "info", "warn", "error").
func New(level, service string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("TASKHOOK_LOG_LEVEL: %w", err)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey = "ts"
	enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	core := zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(os.Stderr), lvl)
	return zap.New(core, zap.AddCaller()).With(zap.String("service", service)), nil
}
