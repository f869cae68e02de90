package ui

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/taskhook/taskhook/dispatcher/internal/alert"
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
)

// alertRow is one alert on the Alerts page.
type alertRow struct {
	alert.View
	Age string
}

// alertsPage lists the alerts nobody acknowledged (unacknowledged, escalated, then open; oldest
// first within each), then the latest acknowledged ones.
func (u *UI) alertsPage(c echo.Context) error {
	var waiting, done struct {
		Alerts []alert.View `json:"alerts"`
	}
	if err := u.call(c, http.MethodGet, "/v1/alerts?"+url.Values{"state": {"unacknowledged,escalated,open"}, "limit": {"500"}}.Encode(), nil, &waiting); err != nil {
		return err
	}
	if err := u.call(c, http.MethodGet, "/v1/alerts?state=acknowledged&limit=20", nil, &done); err != nil {
		return err
	}
	rank := map[string]int{alert.StateUnacknowledged: 0, alert.StateEscalated: 1, alert.StateOpen: 2}
	sort.SliceStable(waiting.Alerts, func(i, j int) bool {
		a, b := waiting.Alerts[i], waiting.Alerts[j]
		if rank[a.State] != rank[b.State] {
			return rank[a.State] < rank[b.State]
		}
		return a.OpenedAt.Before(b.OpenedAt)
	})
	now := time.Now()
	rows := func(vs []alert.View) []alertRow {
		out := make([]alertRow, len(vs))
		for i, v := range vs {
			out[i] = alertRow{View: v, Age: age(now.Sub(v.OpenedAt))}
		}
		return out
	}
	return u.render(c, http.StatusOK, "alerts", "Alerts", "alerts", map[string]any{"Waiting": rows(waiting.Alerts), "Done": rows(done.Alerts)})
}

// acknowledgeAlert acknowledges from the dashboard, under the session's token (admins only).
func (u *UI) acknowledgeAlert(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return &pageError{Status: http.StatusNotFound, Message: "There is no alert at this address."}
	}
	name := strings.TrimSpace(c.FormValue("name"))
	if err := u.call(c, http.MethodPost, "/v1/alerts/"+id.String()+"/acknowledge", map[string]any{"name": name}, nil); err != nil {
		return err
	}
	return redirect(c, "/ui/alerts", "acknowledged")
}

// age is d for people: "45 s", "12 min", "3 h 5 min", "2 d".
func age(d time.Duration) string {
	if d >= 48*time.Hour {
		return strconv.Itoa(int(d/(24*time.Hour))) + " d"
	}
	return notify.HumanDuration(d.Truncate(time.Minute) + map[bool]time.Duration{true: d % time.Minute, false: 0}[d < time.Minute])
}
