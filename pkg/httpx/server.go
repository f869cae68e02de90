package httpx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Observer is told of every answered request (for metrics).
type Observer func(route string, status int, took time.Duration)

// NewEcho returns an echo instance with Taskhook's error handler, request ids, panic recovery
// and request logging (method, route, status, latency and ids, never bodies or query strings).
// observe (may be nil) sees every request with its final status.
func NewEcho(log *zap.Logger, observe Observer) *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = ErrorHandler(log)
	e.Use(middleware.RequestID())
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic in handler", zap.String("route", c.Path()), zap.Error(err), zap.ByteString("stack", stack))
			return err
		}}))
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogLatency: true, LogMethod: true, LogRoutePath: true, LogRequestID: true, LogURIPath: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			lvl := zap.DebugLevel
			if v.Status >= 500 {
				lvl = zap.WarnLevel
			}
			if ce := log.Check(lvl, "http request"); ce != nil {
				path := v.URIPath
				if strings.HasPrefix(v.RoutePath, "/ack/") {
					path = v.RoutePath // the path is a credential (an acknowledge token): never logged
				}
				ce.Write(zap.String("method", v.Method), zap.String("route", v.RoutePath), zap.String("path", path),
					zap.Int("status", v.Status), zap.Duration("latency", v.Latency), zap.String("request_id", v.RequestID),
					zap.String("who", PrincipalOf(c).Name))
			}
			return nil
		},
	}))
	e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err) // render now, so that logging and metrics see the final status
			}
			if observe != nil {
				observe(c.Path(), c.Response().Status, time.Since(start))
			}
			return nil
		}
	})
	return e
}

// Check is one readiness probe: nil when the dependency is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Health registers GET /healthz (the process is alive) and GET /readyz (every check passes;
// 503 naming the failing ones otherwise) and GET /metrics for reg.
func Health(e *echo.Echo, reg *prometheus.Registry, checks ...Check) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		res := map[string]string{}
		ready := true
		for _, ch := range checks {
			if err := ch.Fn(ctx); err != nil {
				res[ch.Name], ready = err.Error(), false
			} else {
				res[ch.Name] = "ok"
			}
		}
		if !ready {
			return &Error{Status: http.StatusServiceUnavailable, Message: "not ready", Details: res, RetryAfter: 1}
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ready", "checks": res})
	})
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
}

// Serve listens on addr and serves e until ctx is done, then shuts down gracefully within
// grace: no new connections, in-flight requests finish. ready (may be nil) receives the bound
// address once listening.
func Serve(ctx context.Context, e *echo.Echo, addr string, grace time.Duration, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return ServeListener(ctx, e, ln, grace, ready)
}

// ServeListener is Serve on an existing listener.
func ServeListener(ctx context.Context, e *echo.Echo, ln net.Listener, grace time.Duration, ready func(net.Addr)) error {
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	e.Server = srv
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Probe is the `healthcheck` subcommand of both binaries (for container health checks in images
// without a shell): GET http://<addr>/healthz, where a wildcard host means loopback.
func Probe(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz answered %d", resp.StatusCode)
	}
	return nil
}
