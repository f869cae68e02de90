// Package api serves ingest's HTTP API: POST /v1/events, POST /v1/events/batch and
// GET /v1/event-types.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/taskhook/taskhook/ingest/internal/metrics"
	"github.com/taskhook/taskhook/ingest/internal/publish"
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// MaxBatchItems is the most events one batch request may carry.
const MaxBatchItems = 1000

// retryAfterSeconds is the Retry-After of a 503: NATS reconnects within about a second.
const retryAfterSeconds = 2

// Publisher stores validated events durably.
type Publisher interface {
	Publish(ctx context.Context, v *event.Validated) (publish.Ack, error)
	PublishBatch(ctx context.Context, vs []*event.Validated) []publish.Result
}

// Options configures the handlers.
type Options struct {
	MaxBodyBytes  int64 // limit of POST /v1/events
	MaxBatchBytes int64 // limit of POST /v1/events/batch
	NewID         func() string
}

// Handler serves the event endpoints.
type Handler struct {
	validator *event.Catalog
	pub       Publisher
	opts      Options
	metrics   *metrics.Metrics
	log       *zap.Logger
}

// New returns the event handlers.
func New(v *event.Catalog, pub Publisher, opts Options, m *metrics.Metrics, log *zap.Logger) *Handler {
	return &Handler{validator: v, pub: pub, opts: opts, metrics: m, log: log}
}

// Register mounts the routes under g (already authenticated).
func (h *Handler) Register(g *echo.Group) {
	g.POST("/events", h.postEvent)
	g.POST("/events/batch", h.postBatch)
	g.GET("/event-types", httpx.EventTypes(h.validator))
}

// Accepted is the body of a 202 (and of a successful batch item).
type Accepted struct {
	ID        string `json:"id"`
	Subject   string `json:"subject"`
	Duplicate bool   `json:"duplicate"`
}

func (h *Handler) postEvent(c echo.Context) error {
	body, err := httpx.ReadJSON(c, h.opts.MaxBodyBytes)
	if err != nil {
		return err
	}
	key := c.Request().Header.Get("Idempotency-Key")
	if key != "" && !event.ValidIDKey(key) {
		return httpx.Errorf(http.StatusBadRequest, "Idempotency-Key must be 1 to 128 visible ASCII characters")
	}
	v, err := h.validator.Validate(body, key, h.opts.NewID)
	if err != nil {
		h.metrics.Events.WithLabelValues("unknown", metrics.Invalid).Inc()
		return validationError(err)
	}
	ack, err := h.pub.Publish(c.Request().Context(), v)
	var tle *publish.TooLargeError
	if errors.As(err, &tle) {
		h.metrics.Events.WithLabelValues(v.Subject, metrics.Invalid).Inc()
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "%v", tle)
	}
	if err != nil {
		h.metrics.Events.WithLabelValues(v.Subject, metrics.Unavailable).Inc()
		h.log.Warn("event not stored", zap.String("event_id", v.ID), zap.String("subject", v.Subject), zap.Error(err))
		return unavailable(v.ID, err)
	}
	h.count(v.Subject, ack)
	return accepted(c, Accepted{ID: v.ID, Subject: v.Subject, Duplicate: ack.Duplicate})
}

// accepted answers 202 with a: the same bytes as c.JSON (encoding/json's, with its newline),
// written without an encoder or echo's query parsing for ?pretty (a query string still gets
// c.JSON): 10% of the handler's CPU under load, measured in BENCHMARKS.md.
func accepted(c echo.Context, a Accepted) error {
	if c.Request().URL.RawQuery != "" || !plainJSON(a.ID) || !plainJSON(a.Subject) {
		return c.JSON(http.StatusAccepted, a)
	}
	b := make([]byte, 0, 48+len(a.ID)+len(a.Subject))
	b = append(b, `{"id":"`...)
	b = append(b, a.ID...)
	b = append(b, `","subject":"`...)
	b = append(b, a.Subject...)
	b = append(b, `","duplicate":`...)
	b = strconv.AppendBool(b, a.Duplicate)
	b = append(b, "}\n"...)
	return c.Blob(http.StatusAccepted, echo.MIMEApplicationJSON, b)
}

// plainJSON reports whether encoding/json writes s between quotes unchanged: printable ASCII
// without the characters it escapes (quote, backslash, and <, >, & for HTML safety).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch < 0x20 || ch >= 0x7f, ch == '"', ch == '\\', ch == '<', ch == '>', ch == '&':
			return false
		}
	}
	return true
}

func (h *Handler) count(subject string, ack publish.Ack) {
	outcome := metrics.Accepted
	if ack.Duplicate {
		outcome = metrics.Duplicate
	}
	h.metrics.Events.WithLabelValues(subject, outcome).Inc()
}

// BatchItem is one result of POST /v1/events/batch: the 202 body or the error body, with the
// item's index and HTTP status.
type BatchItem struct {
	Index  int `json:"index"`
	Status int `json:"status"`
	*Accepted
	Error   string         `json:"error,omitempty"`
	Details []event.Detail `json:"details,omitempty"`
}

func (h *Handler) postBatch(c echo.Context) error {
	body, err := httpx.ReadJSON(c, h.opts.MaxBatchBytes)
	if err != nil {
		return err
	}
	key := c.Request().Header.Get("Idempotency-Key")
	if key != "" && (!event.ValidIDKey(key) || len(key) > 123) {
		return httpx.Errorf(http.StatusBadRequest, "Idempotency-Key of a batch must be 1 to 123 visible ASCII characters (item ids are <key>.<index>)")
	}
	items, err := event.SplitArray(body)
	if err != nil {
		return httpx.Errorf(http.StatusBadRequest, "%v", err)
	}
	switch {
	case len(items) == 0:
		return httpx.Errorf(http.StatusUnprocessableEntity, "empty batch: send 1 to %d events", MaxBatchItems)
	case len(items) > MaxBatchItems:
		return httpx.Errorf(http.StatusRequestEntityTooLarge, "batch holds %d events; at most %d per request, split it", len(items), MaxBatchItems)
	}
	h.metrics.BatchSize.Observe(float64(len(items)))
	results := make([]BatchItem, len(items))
	valid := make([]*event.Validated, 0, len(items))
	validIdx := make([]int, 0, len(items))
	for i, item := range items {
		results[i].Index = i
		if int64(len(item.Raw)) > h.opts.MaxBodyBytes { // the limit of one event applies to each
			h.metrics.Events.WithLabelValues("unknown", metrics.Invalid).Inc()
			results[i].Status, results[i].Error = http.StatusRequestEntityTooLarge,
				fmt.Sprintf("the event is %d bytes; one event may have at most %d (TASKHOOK_MAX_BODY_BYTES)", len(item.Raw), h.opts.MaxBodyBytes)
			continue
		}
		itemKey := ""
		if key != "" {
			itemKey = key + "." + strconv.Itoa(i)
		}
		v, err := (*event.Validated)(nil), item.Err
		if err == nil {
			v, err = h.validator.ValidateValue(item.Doc, item.Raw, itemKey, h.opts.NewID)
		}
		if err != nil {
			h.metrics.Events.WithLabelValues("unknown", metrics.Invalid).Inc()
			he := validationError(err)
			results[i].Status, results[i].Error = he.Status, he.Message
			results[i].Details, _ = he.Details.([]event.Detail)
			continue
		}
		valid = append(valid, v)
		validIdx = append(validIdx, i)
	}
	if len(valid) == 0 {
		return jsonWithLength(c, http.StatusOK, results)
	}
	for j, r := range h.pub.PublishBatch(c.Request().Context(), valid) {
		i, v := validIdx[j], valid[j]
		var tle *publish.TooLargeError
		if errors.As(r.Err, &tle) {
			h.metrics.Events.WithLabelValues(v.Subject, metrics.Invalid).Inc()
			results[i].Status, results[i].Error = http.StatusRequestEntityTooLarge, tle.Error()
			continue
		}
		if r.Err != nil {
			h.metrics.Events.WithLabelValues(v.Subject, metrics.Unavailable).Inc()
			h.log.Warn("event not stored", zap.String("event_id", v.ID), zap.String("subject", v.Subject), zap.Error(r.Err))
			results[i].Status, results[i].Error = http.StatusServiceUnavailable, unavailable(v.ID, r.Err).Message
			results[i].Accepted = &Accepted{ID: v.ID, Subject: v.Subject}
			c.Response().Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
			continue
		}
		h.count(v.Subject, r.Ack)
		results[i].Status = http.StatusAccepted
		results[i].Accepted = &Accepted{ID: v.ID, Subject: v.Subject, Duplicate: r.Ack.Duplicate}
	}
	return jsonWithLength(c, http.StatusOK, results)
}

// jsonWithLength answers with a Content-Length instead of chunked encoding, which large batch
// results would otherwise get.
func jsonWithLength(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	return c.Blob(status, "application/json; charset=UTF-8", b) // the Content-Type ingest has always sent
}

func validationError(err error) *httpx.Error {
	var me *event.MalformedError
	var ie *event.InvalidError
	switch {
	case errors.As(err, &me):
		return &httpx.Error{Status: http.StatusBadRequest, Message: me.Error()}
	case errors.As(err, &ie):
		return &httpx.Error{Status: http.StatusUnprocessableEntity, Message: ie.Summary(), Details: ie.Details}
	}
	return &httpx.Error{Status: http.StatusBadRequest, Message: err.Error()}
}

func unavailable(id string, err error) *httpx.Error {
	_ = err // the cause is logged, not shown: it may name internal hosts
	return &httpx.Error{
		Status:     http.StatusServiceUnavailable,
		Message:    fmt.Sprintf("the event could not be stored; retry after %d seconds with the same event_id or Idempotency-Key", retryAfterSeconds),
		RetryAfter: retryAfterSeconds,
		Extra:      map[string]any{"id": id},
	}
}
