package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) tailCmd() *cobra.Command {
	var interval time.Duration
	var last, count int
	var status string
	c := &cobra.Command{Use: "tail WEBHOOK", Short: "Follow a webhook's deliveries as they happen",
		Long: `Print a webhook's latest deliveries (-n), then one line each time a delivery appears or
changes (a new attempt, a new status), until interrupted, or until --count deliveries have
reached a final status (succeeded or failed). With -o json, one JSON object per line.
WEBHOOK is the webhook's id or its unique name.`,
		Args: exact(1, "a webhook id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
				return err
			}
			return e.tail(cmd.Context(), a, args[0], status, interval, last, count)
		}}
	f := c.Flags()
	f.DurationVar(&interval, "interval", time.Second, "how often to look")
	f.IntVarP(&last, "lines", "n", 10, "how many of the latest deliveries to show first")
	f.IntVar(&count, "count", 0, "stop after this many deliveries reached succeeded or failed (0: never)")
	f.StringVar(&status, "status", "", "only deliveries of this status")
	return c
}

type seenDelivery struct {
	status   string
	attempts int
}

func final(status string) bool { return status == "succeeded" || status == "failed" }

func (e *env) tail(ctx context.Context, a *client.Admin, webhookID, status string, interval time.Duration, last, count int) error {
	seen := map[string]seenDelivery{}
	finished := 0
	first := true
	if e.output != "json" {
		fmt.Fprintf(e.Out, tailFormat, "TIME", "DELIVERY", "EVENT TYPE", "STATUS", "ATTEMPTS", "CODE", "LAST ERROR")
	}
	for {
		page, err := a.ListDeliveries(ctx, webhookID, client.DeliveryQuery{Status: status, Limit: 100})
		if errors.Is(err, context.Canceled) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		ds := page.Deliveries
		slices.Reverse(ds) // oldest first
		// Deliveries still under way that newer ones pushed off the page: read them one by one.
		onPage := make(map[string]bool, len(ds))
		for _, d := range ds {
			onPage[d.ID] = true
		}
		n := 0
		for id, sd := range seen {
			if n >= 20 || onPage[id] || final(sd.status) {
				continue
			}
			n++
			d, err := a.GetDelivery(ctx, id)
			if err != nil {
				continue
			}
			d.AttemptLog = nil
			ds = append(ds, *d)
		}
		for i, d := range ds {
			prev, known := seen[d.ID]
			if known && prev.status == d.Status && prev.attempts == d.Attempts {
				continue
			}
			seen[d.ID] = seenDelivery{status: d.Status, attempts: d.Attempts}
			if first && i < len(ds)-last {
				continue // older than the -n shown first
			}
			if !first && final(d.Status) && !(known && final(prev.status)) {
				finished++
			}
			if err := e.tailLine(&d); err != nil {
				return err
			}
		}
		first = false
		if count > 0 && finished >= count {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

func (e *env) tailLine(d *client.Delivery) error {
	if e.output == "json" {
		b, err := json.Marshal(d)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(e.Out, string(b))
		return err
	}
	_, err := fmt.Fprintf(e.Out, tailFormat, d.UpdatedAt.Local().Format("15:04:05"), d.ID, d.EventType, d.Status,
		fmt.Sprint(d.Attempts), fmtCode(d.LastStatusCode), oneLine(orDash(d.LastError), 80))
	return err
}

const tailFormat = "%-8s  %-36s  %-16s  %-9s  %-8s  %-4s  %s\n"
