package httpx

import (
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/pkg/event"
)

// LiveDocument serves a document built from the catalog (the OpenAPI document with its enums
// filled), built again when the catalog's custom types change. The first build's error is
// returned; a later failed build keeps serving the previous document.
func LiveDocument(c *event.Catalog, build func() ([]byte, error)) (echo.HandlerFunc, error) {
	doc, err := build()
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	gen := c.Generation()
	return func(ctx echo.Context) error {
		mu.Lock()
		if g := c.Generation(); g != gen {
			if d, err := build(); err == nil {
				doc = d
			}
			gen = g
		}
		d := doc
		mu.Unlock()
		return ctx.Blob(http.StatusOK, echo.MIMEApplicationJSON, d)
	}, nil
}
