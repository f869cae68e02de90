package httpx

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// trackedBody records whether a handler read the request body to its end.
type trackedBody struct {
	io.ReadCloser
	req  *http.Request
	orig io.ReadCloser
	eof  bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func trackBody(req *http.Request) *trackedBody {
	b := &trackedBody{ReadCloser: req.Body, req: req, orig: req.Body}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = b
	}
	return b
}

// done runs when the handler returned, before its answer is written. A body the handler did
// not read to its end (a request refused before reading it: 401, 403, 404, 405, 413, 415) is
// not waited for: net/http would otherwise read up to 256 KiB of it before answering, for as
// long as a client takes to send it (Content-Length: 100 and nothing: until the read timeout).
// The answer says Connection: close and the connection's read deadline is set to now, so the
// answer goes out at once and the connection closes after it (what remains on the wire cannot
// be parsed as a next request).
func (b *trackedBody) done(c echo.Context) {
	b.req.Body = b.orig
	if b.eof || b.orig == nil || b.orig == http.NoBody || b.req.ContentLength == 0 {
		return
	}
	// An answer the handler already wrote has told the client whether the connection stays
	// open (net/http decided that when it wrote the headers): cutting it now would race the
	// client's next request on it, which would be cancelled as soon as it was read.
	if c.Response().Committed {
		return
	}
	c.Response().Header().Set("Connection", "close")
	_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now())
}

// IsTimeout reports whether err is a read that ran out of time (TASKHOOK_READ_TIMEOUT).
func IsTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
