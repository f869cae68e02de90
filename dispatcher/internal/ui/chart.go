package ui

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/taskhook/taskhook/dispatcher/internal/store"
)

// chart draws the last hours as an SVG bar chart, server-side: per hour, the deliveries that
// finished (succeeded and failed) and the failed attempts beside them. Colours are attributes,
// not inline styles, so the strict CSP holds; the numbers are also in a table on the page.
func chart(hours []store.HourStats) template.HTML {
	const w, h, left, right, bottom, top = 720, 220, 40, 24, 28, 10
	max := int64(1)
	for _, s := range hours {
		max = maxInt(max, s.DeliveriesSucceeded+s.DeliveriesFailed, s.AttemptsFailed)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">`, w, h)
	b.WriteString(`<title id="chart-title">Deliveries and failed attempts per hour, last 24 hours (UTC)</title>`)
	var total, failed int64
	for _, s := range hours {
		total += s.DeliveriesSucceeded + s.DeliveriesFailed
		failed += s.AttemptsFailed
	}
	fmt.Fprintf(&b, `<desc id="chart-desc">%d deliveries finished and %d attempts failed in the last %d hours.</desc>`, total, failed, len(hours))
	plotH := float64(h - bottom - top)
	// axis and gridlines at 0, half and max
	for _, f := range []float64{0, 0.5, 1} {
		y := float64(top) + plotH*(1-f)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#c8ccd2" stroke-width="1"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#3d4450">%d</text>`, left-4, y+4, int64(f*float64(max)+0.5))
	}
	if n := len(hours); n > 0 {
		slot := float64(w-left-right) / float64(n)
		bar := slot * 0.38
		for i, s := range hours {
			x := float64(left) + slot*float64(i) + slot*0.1
			d := s.DeliveriesSucceeded + s.DeliveriesFailed
			dh := plotH * float64(d) / float64(max)
			fh := plotH * float64(s.AttemptsFailed) / float64(max)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2563a8"><title>%s: %d deliveries</title></rect>`,
				x, float64(top)+plotH-dh, bar, dh, s.Hour.UTC().Format("15:04"), d)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#b42318"><title>%s: %d failed attempts</title></rect>`,
				x+bar, float64(top)+plotH-fh, bar, fh, s.Hour.UTC().Format("15:04"), s.AttemptsFailed)
			if i%4 == 0 || i == n-1 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#3d4450">%s</text>`, x+bar, h-8, s.Hour.UTC().Format("15:04"))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built here from numbers and fixed text only
}

func maxInt(a int64, bs ...int64) int64 {
	for _, b := range bs {
		if b > a {
			a = b
		}
	}
	return a
}
