package ctl

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) replayCmd() *cobra.Command {
	var since, until, status string
	c := &cobra.Command{Use: "replay WEBHOOK --since TIME [--until TIME]", Short: "Send a window of a webhook's deliveries again",
		Long: `Re-queue a webhook's deliveries of a window: by default the failed ones and the events that
matched while the webhook was inactive; --status failed, succeeded or missing narrows it.
Deliveries go out again with their webhook-id, so receivers drop what they already have.
A long window is replayed in as many requests as the server's limit needs, with a progress bar
over the window and a summary at the end. TIME is RFC 3339 (2024-01-15T10:00:00Z) or a
duration ago (6h). WEBHOOK is the webhook's id or its unique name.`,
		Args: exact(1, "a webhook id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			if since == "" {
				return usagef("--since is required")
			}
			req := client.ReplayRequest{Status: status, Until: now}
			var err error
			if req.Since, err = parseTime(since, now); err != nil {
				return err
			}
			if until != "" {
				if req.Until, err = parseTime(until, now); err != nil {
					return err
				}
			}
			a, err := e.admin()
			if err != nil {
				return err
			}
			if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			span := req.Until.Sub(req.Since).Seconds()
			if e.showProgress() && span > 0 {
				bar = progressbar.NewOptions(1000, progressbar.OptionSetWriter(e.Err), progressbar.OptionSetDescription("replay"),
					progressbar.OptionShowElapsedTimeOnFinish(), progressbar.OptionClearOnFinish(), progressbar.OptionThrottle(100*time.Millisecond))
			}
			start := time.Now()
			sum, err := a.Replay(cmd.Context(), args[0], req, func(s client.ReplayResult, reached time.Time) {
				if bar != nil {
					_ = bar.Set(int(1000 * reached.Sub(req.Since).Seconds() / span))
					bar.Describe(fmt.Sprintf("replay: %d re-queued, %d created", s.Requeued, s.Created))
				}
			})
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				if sum != nil && sum.Requeued+sum.Created > 0 {
					fmt.Fprintf(e.Err, "replay stopped: %d re-queued and %d created before the error\n", sum.Requeued, sum.Created)
				}
				return err
			}
			if e.output == "json" {
				if err := e.json(map[string]any{"webhook_id": args[0], "since": req.Since, "until": req.Until, "status": status,
					"requeued": sum.Requeued, "created": sum.Created, "scanned": sum.Scanned, "capped": sum.Capped}); err != nil {
					return err
				}
				if sum.Capped {
					return partial("the server's limit (TASKHOOK_REPLAY_LIMIT) was reached: replay again once these are delivered")
				}
				return nil
			}
			e.fields([][2]string{{"webhook", args[0]}, {"window", req.Since.Local().Format(time.RFC3339) + " → " + req.Until.Local().Format(time.RFC3339)},
				{"re-queued", fmt.Sprint(sum.Requeued)}, {"created", fmt.Sprintf("%d (events missed while inactive)", sum.Created)},
				{"stream messages read", fmt.Sprint(sum.Scanned)}, {"took", time.Since(start).Round(time.Millisecond).String()}})
			fmt.Fprintf(e.Out, "Follow them with: taskhookctl tail %s\n", args[0])
			if sum.Capped {
				return partial("the server's limit (TASKHOOK_REPLAY_LIMIT) was reached: replay again once these are delivered")
			}
			return nil
		}}
	f := c.Flags()
	f.StringVar(&since, "since", "", "start of the window (required)")
	f.StringVar(&until, "until", "", "end of the window (default now)")
	f.StringVar(&status, "status", "", "failed, succeeded or missing (default: failed and missing)")
	return c
}
