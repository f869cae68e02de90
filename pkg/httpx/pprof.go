package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/pprof"
	"time"

	"go.uber.org/zap"
)

// RunPprof serves net/http/pprof on addr (keep it on loopback) until ctx ends, and returns once
// the server closed. It returns nil at once when addr is empty (TASKHOOK_PPROF_ADDR unset).
func RunPprof(ctx context.Context, addr string, log *zap.Logger) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() {
		log.Info("pprof listening", zap.String("addr", addr))
		served <- srv.ListenAndServe()
	}()
	select {
	case err := <-served: // could not listen: pprof is a debugging aid, the service goes on
		log.Warn("pprof server", zap.Error(err))
		return nil
	case <-ctx.Done():
	}
	_ = srv.Close()
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("pprof server", zap.Error(err))
	}
	return nil
}
