package ctl

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func (e *env) statsCmd() *cobra.Command {
	var window time.Duration
	c := &cobra.Command{Use: "stats", Short: "Deliveries by outcome and provider, the retry backlog, disabled webhooks",
		Args: exact(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			s, err := a.Stats(cmd.Context(), window)
			if err != nil {
				return err
			}
			if e.output == "json" {
				return e.json(s)
			}
			e.fields([][2]string{{"window", s.Window},
				{"deliveries", fmt.Sprintf("%d succeeded, %d failed", s.Totals["deliveries_succeeded"], s.Totals["deliveries_failed"])},
				{"attempts", fmt.Sprintf("%d succeeded, %d failed", s.Totals["attempts_succeeded"], s.Totals["attempts_failed"])},
				{"retry backlog", fmt.Sprint(s.RetryBacklog)}, {"pending", fmt.Sprint(s.PendingDeliveries)},
				{"oldest pending", (time.Duration(s.OldestPendingAgeSeconds) * time.Second).String()}})
			var by []map[string]any
			if json.Unmarshal(s.ByProvider, &by) == nil && len(by) > 0 {
				fmt.Fprintln(e.Out)
				rows := [][]string{}
				for _, p := range by {
					rows = append(rows, []string{fmt.Sprint(p["provider"]), num(p["deliveries_succeeded"]), num(p["deliveries_failed"]),
						num(p["attempts_succeeded"]), num(p["attempts_failed"])})
				}
				e.table([]string{"PROVIDER", "DELIVERED", "FAILED", "ATTEMPTS OK", "ATTEMPTS FAILED"}, rows)
			}
			if len(s.DisabledWebhooks) > 0 {
				fmt.Fprintln(e.Out)
				rows := [][]string{}
				for _, d := range s.DisabledWebhooks {
					rows = append(rows, []string{d.ID, d.Name, fmtTime(d.DisabledAt), d.Reason})
				}
				e.table([]string{"DISABLED WEBHOOK", "NAME", "SINCE", "REASON"}, rows)
			}
			return nil
		}}
	c.Flags().DurationVar(&window, "window", 0, "window of the totals, 1h to 2160h (default 24h)")
	return c
}

func num(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprint(int64(f))
	}
	return "-"
}
