package deliver

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/taskhook/taskhook/dispatcher/internal/credential"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/subscription"
	"github.com/taskhook/taskhook/pkg/version"
)

// Message builds what providers render.
func Message(j *Job) *notify.Message {
	ts := j.Received
	if j.OccurredAt != nil {
		ts = *j.OccurredAt
	}
	return &notify.Message{DeliveryID: j.DeliveryID.String(), EventID: j.EventID, Type: j.EventType, Timestamp: ts, Event: j.Event, Alert: j.Alert}
}

// send renders, signs and posts one attempt, retrying once at once when a credential with a
// cached token gets 401 (the token may have been revoked).
func (e *Engine) send(ctx context.Context, wh *subscription.Compiled, m *notify.Message, now time.Time) (notify.Response, notify.Outcome) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.AttemptTimeout)
	defer cancel()
	resp, err := Send(ctx, e.client, wh, m, now, e.cfg.ExcerptBytes)
	if err != nil {
		return resp, *err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		if rf, ok := wh.Credential.(credential.Refreshable); ok {
			rf.Invalidate()
			if resp2, err := Send(ctx, e.client, wh, m, now, e.cfg.ExcerptBytes); err == nil {
				resp = resp2
			}
		}
	}
	return resp, wh.Provider.Classify(&resp)
}

// Try sends m to wh now, exactly as a delivery would be sent (render, sign, SSRF-safe client,
// one re-authentication after a 401), and classifies the answer. Nothing is recorded and
// nothing is retried: it is the admin API's test. ctx (the request's) bounds it too.
func (e *Engine) Try(ctx context.Context, wh *subscription.Compiled, m *notify.Message) (notify.Response, notify.Outcome, time.Duration) {
	start := time.Now()
	resp, out := e.send(ctx, wh, m, start)
	return resp, out, time.Since(start)
}

// Send renders m for wh and posts it: the Standard Webhooks headers (webhook-id, timestamp, and
// signature when the credential signs), User-Agent and Content-Type, no redirects. It is shared
// by deliveries and by the admin API's test endpoint. A non-nil outcome means nothing was sent.
func Send(ctx context.Context, client *http.Client, wh *subscription.Compiled, m *notify.Message, now time.Time, excerpt int) (notify.Response, *notify.Outcome) {
	req, body, ctype, out := render(ctx, wh, m)
	if out != nil {
		return notify.Response{}, out
	}
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	hr, err := http.NewRequestWithContext(ctx, method, req.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Response{}, &notify.Outcome{Result: notify.Fail, Reason: "invalid target URL"}
	}
	for k, vs := range req.Header {
		hr.Header[k] = vs
	}
	hr.Header.Set("Content-Type", ctype)
	hr.Header.Set("User-Agent", version.UserAgent())
	hr.Header.Set("webhook-id", m.DeliveryID)
	hr.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	if wh.SendTraceparent {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(hr.Header)) // the attempt's span, when traced
	}
	if err := wh.Credential.Apply(ctx, hr, m.DeliveryID, now, body); err != nil {
		return notify.Response{}, &notify.Outcome{Result: notify.Retry, Reason: "auth: " + err.Error()}
	}
	res, err := client.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			err = notify.ErrTimeout
		}
		return notify.Response{Err: err}, nil
	}
	defer res.Body.Close()
	buf := make([]byte, excerpt)
	n, _ := io.ReadFull(res.Body, buf)
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10)) // let the connection be reused
	return notify.Response{StatusCode: res.StatusCode, Header: res.Header, Body: buf[:n]}, nil
}

// render turns m into wh's request body (its provider's, or its template's), within a span of
// its own when the attempt is traced. A non-nil outcome means it could not be rendered.
func render(ctx context.Context, wh *subscription.Compiled, m *notify.Message) (*notify.Request, []byte, string, *notify.Outcome) {
	if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
		var span trace.Span
		ctx, span = parent.TracerProvider().Tracer("taskhook/dispatcher/deliver").Start(ctx, "render "+wh.Provider.Name())
		defer span.End()
	}
	req, err := wh.Provider.Render(ctx, wh.Target, m)
	if err != nil {
		return nil, nil, "", &notify.Outcome{Result: notify.Fail, Reason: "render: " + err.Error()}
	}
	body, ctype := req.Body, req.ContentType
	if wh.Template != nil {
		if body, err = wh.Template.Render(ctx, wh.Target, m); err != nil {
			return nil, nil, "", &notify.Outcome{Result: notify.Fail, Reason: err.Error()}
		}
		ctype = wh.Template.ContentType()
	}
	return req, body, ctype, nil
}
