package ctl

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) deliveriesCmd() *cobra.Command {
	c := &cobra.Command{Use: "deliveries", Aliases: []string{"delivery", "dl"}, Short: "The delivery log: list a webhook's deliveries, show one with every attempt, retry one"}
	c.AddCommand(e.deliveriesList(),
		&cobra.Command{Use: "get DELIVERY_ID", Short: "Show a delivery with every attempt", Args: exact(1, "a delivery id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := e.admin()
				if err != nil {
					return err
				}
				d, err := a.GetDelivery(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return e.showDelivery(d)
			}},
		&cobra.Command{Use: "retry DELIVERY_ID", Short: "Attempt a delivery again now, whatever its status (exits 1 unless it succeeds)", Args: exact(1, "a delivery id"),
			RunE: func(cmd *cobra.Command, args []string) error {
				a, err := e.admin()
				if err != nil {
					return err
				}
				d, err := a.RetryDelivery(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if err := e.showDelivery(d); err != nil {
					return err
				}
				if d.Status != "succeeded" {
					return failedf("the delivery is %s after the retry: %s", d.Status, orDash(d.LastError))
				}
				return nil
			}})
	return c
}

func (e *env) deliveriesList() *cobra.Command {
	var status, since, cursor string
	var limit int
	var all bool
	c := &cobra.Command{Use: "list WEBHOOK", Short: "List a webhook's deliveries (WEBHOOK: its id or unique name), newest first",
		Args: exact(1, "a webhook id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
				return err
			}
			q := client.DeliveryQuery{Status: status, Limit: limit, Cursor: cursor}
			if since != "" {
				if q.Since, err = parseTime(since, time.Now()); err != nil {
					return err
				}
			}
			var ds []client.Delivery
			var next *string
			for {
				page, err := a.ListDeliveries(cmd.Context(), args[0], q)
				if err != nil {
					return err
				}
				ds, next = append(ds, page.Deliveries...), page.NextCursor
				if !all || next == nil {
					break
				}
				q.Cursor = *next
			}
			if len(ds) == 0 && status == "failed" && cursor == "" {
				e.hintRetrying(cmd, a, args[0], q.Since)
			}
			if e.output == "json" {
				return e.json(map[string]any{"deliveries": ds, "next_cursor": next})
			}
			rows := make([][]string, 0, len(ds))
			for _, d := range ds {
				rows = append(rows, deliveryRow(&d))
			}
			e.table(deliveryHeader, rows)
			if next != nil {
				fmt.Fprintf(e.Err, "more: --cursor %s (or --all)\n", *next)
			}
			return nil
		}}
	f := c.Flags()
	f.StringVar(&status, "status", "", "pending, retrying, succeeded or failed")
	f.StringVar(&since, "since", "", "created since: an RFC 3339 time or a duration ago (6h)")
	f.IntVar(&limit, "limit", 0, "page size (server default 50, at most 500)")
	f.StringVar(&cursor, "cursor", "", "the page after this cursor")
	f.BoolVar(&all, "all", false, "every page")
	return c
}

// hintRetrying says, on stderr, when no delivery failed but some are retrying: a delivery that
// has failed attempts left is "retrying", not "failed", which surprises who looks for failures.
func (e *env) hintRetrying(cmd *cobra.Command, a *client.Admin, webhook string, since time.Time) {
	page, err := a.ListDeliveries(cmd.Context(), webhook, client.DeliveryQuery{Status: "retrying", Since: since, Limit: 100})
	if err != nil || len(page.Deliveries) == 0 {
		return
	}
	n := fmt.Sprintf("%d deliveries are", len(page.Deliveries))
	switch {
	case page.NextCursor != nil:
		n = fmt.Sprintf("%d or more deliveries are", len(page.Deliveries))
	case len(page.Deliveries) == 1:
		n = "1 delivery is"
	}
	fmt.Fprintf(e.Err, "No delivery failed for good, but %s retrying (failed attempts, more to come): taskhookctl deliveries list %s --status retrying\n", n, webhook)
}

var deliveryHeader = []string{"ID", "CREATED", "EVENT TYPE", "EVENT ID", "STATUS", "ATTEMPTS", "LAST CODE", "NEXT ATTEMPT", "LAST ERROR"}

func deliveryRow(d *client.Delivery) []string {
	return []string{d.ID, fmtTime(&d.CreatedAt), d.EventType, d.EventID, d.Status, fmt.Sprint(d.Attempts),
		fmtCode(d.LastStatusCode), fmtTime(d.NextAttemptAt), orDash(d.LastError)}
}

func (e *env) showDelivery(d *client.Delivery) error {
	if e.output == "json" {
		return e.json(d)
	}
	e.fields([][2]string{{"id", d.ID}, {"webhook", d.WebhookID}, {"event", d.EventType + " " + d.EventID}, {"status", d.Status},
		{"attempts", fmt.Sprint(d.Attempts)}, {"last status code", fmtCode(d.LastStatusCode)}, {"last error", orDash(d.LastError)},
		{"next attempt", fmtTime(d.NextAttemptAt)}, {"created", fmtTime(&d.CreatedAt)}, {"updated", fmtTime(&d.UpdatedAt)}})
	if len(d.AttemptLog) > 0 {
		fmt.Fprintln(e.Out)
		rows := make([][]string, 0, len(d.AttemptLog))
		for _, at := range d.AttemptLog {
			rows = append(rows, []string{fmt.Sprint(at.N), fmtTime(&at.StartedAt), fmt.Sprintf("%d ms", at.DurationMS), fmtCode(at.StatusCode),
				orDash(at.Error), orDash(oneLine(at.ResponseExcerpt, 60))})
		}
		e.table([]string{"N", "STARTED", "DURATION", "CODE", "ERROR", "RESPONSE"}, rows)
	}
	return nil
}

func oneLine(s string, n int) string {
	r := []rune(s)
	for i, c := range r {
		if c == '\n' || c == '\r' || c == '\t' {
			r[i] = ' '
		}
	}
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return string(r)
}
