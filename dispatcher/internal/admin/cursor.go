package admin

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// Page sizes of lists.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// cursor is the opaque position of keyset pagination: base64url of a small JSON object.
type cursor struct {
	T   time.Time `json:"t,omitzero"`
	ID  uuid.UUID `json:"id,omitzero"`
	Seq int64     `json:"s,omitempty"`
}

func encodeCursor(t time.Time, id uuid.UUID) string {
	b, _ := json.Marshal(cursor{T: t, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func encodeSeqCursor(seq int64) string {
	b, _ := json.Marshal(cursor{Seq: seq})
	return base64.RawURLEncoding.EncodeToString(b)
}

var errCursor = httpx.Errorf(http.StatusBadRequest, "cursor is not one this API returned; pass next_cursor from the previous page unchanged")

func decodeCursor(s string) (time.Time, uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, uuid.Nil, errCursor
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.T.IsZero() || c.ID == uuid.Nil {
		return time.Time{}, uuid.Nil, errCursor
	}
	return c.T, c.ID, nil
}

func decodeSeqCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, errCursor
	}
	var c cursor
	if json.Unmarshal(b, &c) != nil || c.Seq <= 0 {
		return 0, errCursor
	}
	return c.Seq, nil
}

// pageParams reads limit (and, for delivery lists, since) from the query.
func pageParams(c echo.Context, withSince bool) (store.Page, error) {
	p := store.Page{Limit: DefaultLimit}
	if s := c.QueryParam("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, httpx.Errorf(http.StatusBadRequest, "limit must be an integer from 1 to %d, got %q", MaxLimit, s)
		}
		p.Limit = n
	}
	if withSince {
		if s := c.QueryParam("since"); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return p, httpx.Errorf(http.StatusBadRequest, "since must be an RFC 3339 time such as 2024-01-15T10:00:00Z, got %q", s)
			}
			p.Since = t
		}
	}
	return p, nil
}
