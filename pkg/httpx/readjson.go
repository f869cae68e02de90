package httpx

import (
	"bytes"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// ReadJSON checks that the request is application/json (415 otherwise) and reads at most limit
// bytes of its body (413 above), for both services' JSON endpoints.
func ReadJSON(c echo.Context, limit int64) ([]byte, error) {
	req := c.Request()
	ct := req.Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != echo.MIMEApplicationJSON {
		return nil, Errorf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, got %q", ct)
	}
	if err := CheckEncoding(req); err != nil {
		return nil, err
	}
	if req.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	size := req.ContentLength
	if size < 0 || size > 64<<10 {
		size = 64 << 10
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+1))
	if _, err := buf.ReadFrom(http.MaxBytesReader(c.Response(), req.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		if IsTimeout(err) {
			return nil, Errorf(http.StatusRequestTimeout, "the body did not arrive in time (TASKHOOK_READ_TIMEOUT)")
		}
		return nil, Errorf(http.StatusBadRequest, "reading the body failed: %v", err)
	}
	return buf.Bytes(), nil
}

func tooLarge(limit int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "body exceeds the limit of %d bytes", limit)
}

// CheckEncoding refuses a compressed body (415 naming Content-Encoding): read as JSON it would
// only fail as "invalid character", which does not say what to fix.
func CheckEncoding(req *http.Request) error {
	if enc := req.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		return Errorf(http.StatusUnsupportedMediaType, "Content-Encoding %q is not supported: send the body uncompressed", enc)
	}
	return nil
}
