package admin

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/due"
	"github.com/taskhook/taskhook/dispatcher/internal/store"
	"github.com/taskhook/taskhook/pkg/httpx"
)

// getTask shows what Taskhook knows of a task for the reminders it derives: its due date and
// status, what fired when, and what is scheduled next (no event content).
func (a *API) getTask(c echo.Context) error {
	if a.opts.Due == nil {
		return httpx.Errorf(http.StatusNotFound, "Taskhook keeps no task state: TASKHOOK_DUE_EVENTS is off")
	}
	id, err := url.PathUnescape(c.Param("task_id"))
	if err != nil || id == "" || utf8.RuneCountInString(id) > 128 || !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0 {
		return httpx.Errorf(http.StatusBadRequest, "task_id must be 1 to 128 characters (URL-encoded in the path)")
	}
	row, err := a.DB.GetTask(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return httpx.Errorf(http.StatusNotFound, "no task event with task_id %q has been seen (or the task was closed longer than TASKHOOK_RETENTION ago)", id)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, due.Describe(*row, *a.opts.Due))
}
