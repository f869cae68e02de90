package ctl

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) silencesCmd() *cobra.Command {
	c := &cobra.Command{Use: "silences", Aliases: []string{"silence"}, Short: "Silences: hold back the deliveries of matching events for a while, with a reason (list, create, end)"}
	c.AddCommand(e.silencesList(), e.silencesCreate(), e.silencesEnd())
	return c
}

func (e *env) silencesList() *cobra.Command {
	var state string
	var limit int
	c := &cobra.Command{Use: "list", Short: "List silences, the latest ending first (--state pending, active or expired)",
		Args: exact(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && state != "pending" && state != "active" && state != "expired" {
				return usagef("--state must be pending, active or expired, got %q", state)
			}
			a, err := e.admin()
			if err != nil {
				return err
			}
			ss, err := a.ListSilences(cmd.Context(), state, limit)
			if err != nil {
				return err
			}
			if e.output == "json" {
				return e.json(map[string]any{"silences": ss})
			}
			rows := [][]string{}
			for _, s := range ss {
				rows = append(rows, []string{s.ID, s.State, s.Matcher, webhooksOf(s), fmtTime(&s.StartsAt), fmtTime(&s.EndsAt), s.CreatedBy, s.Reason})
			}
			e.table([]string{"ID", "STATE", "MATCHER", "WEBHOOKS", "STARTS", "ENDS", "BY", "REASON"}, rows)
			return nil
		}}
	c.Flags().StringVar(&state, "state", "", "only silences in this state: pending, active or expired")
	c.Flags().IntVar(&limit, "limit", 0, "at most this many (server default 50)")
	return c
}

func webhooksOf(s client.Silence) string {
	if len(s.WebhookIDs) == 0 {
		return "all"
	}
	return strings.Join(s.WebhookIDs, ",")
}

func (e *env) silencesCreate() *cobra.Command {
	var matcher, starts, ends, reason, file string
	var webhooks []string
	var length time.Duration
	c := &cobra.Command{Use: "create", Short: "Create a silence: --matcher, --for or --ends, --reason (or -f a JSON body)",
		Example: `  taskhookctl silences create --matcher 'event.device.id == "D-991"' --for 2h --reason "firmware update in clinic"
  taskhookctl silences create --matcher 'type == "battery.low"' --webhook 0190… --starts 2026-12-04T08:00:00+01:00 --ends 2026-12-04T12:00:00+01:00 --reason "ward move"`,
		Args: exact(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var body any
			if file != "" {
				b, err := e.readBody(file)
				if err != nil {
					return err
				}
				body = b
			} else {
				in := client.SilenceInput{Matcher: matcher, WebhookIDs: webhooks, Reason: reason}
				now := time.Now()
				from := now
				if starts != "" {
					t, err := time.Parse(time.RFC3339Nano, starts)
					if err != nil {
						return usagef("--starts must be an RFC 3339 time such as 2026-12-04T08:00:00+01:00, got %q", starts)
					}
					in.StartsAt, from = &t, t
				}
				switch {
				case ends != "" && length != 0:
					return usagef("give --ends or --for, not both")
				case ends != "":
					t, err := time.Parse(time.RFC3339Nano, ends)
					if err != nil {
						return usagef("--ends must be an RFC 3339 time such as 2026-12-04T12:00:00+01:00, got %q", ends)
					}
					in.EndsAt = t
				case length > 0:
					in.EndsAt = from.Add(length)
				default:
					return usagef("--ends or --for is required (how long the silence lasts)")
				}
				body = in
			}
			a, err := e.admin()
			if err != nil {
				return err
			}
			s, err := a.CreateSilence(cmd.Context(), body)
			if err != nil {
				return err
			}
			return e.showSilence(s)
		}}
	f := c.Flags()
	f.StringVar(&matcher, "matcher", "", `CEL over event and type, as webhook filters: e.g. event.device.id == "D-991"`)
	f.StringSliceVar(&webhooks, "webhook", nil, "only at this webhook (repeat or comma-separate; default every webhook)")
	f.StringVar(&starts, "starts", "", "RFC 3339 start (default now)")
	f.StringVar(&ends, "ends", "", "RFC 3339 end")
	f.DurationVar(&length, "for", 0, "length from the start, e.g. 2h (instead of --ends)")
	f.StringVar(&reason, "reason", "", "why (3 to 500 characters; kept in the audit trail)")
	f.StringVarP(&file, "file", "f", "", "the JSON body from a file (- for stdin) instead of the flags")
	return c
}

func (e *env) silencesEnd() *cobra.Command {
	var reason string
	c := &cobra.Command{Use: "end SILENCE_ID", Short: "End a silence now (it is kept, expired); exits 1 if it has ended already",
		Args: exact(1, "a silence id"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			s, err := a.EndSilence(cmd.Context(), args[0], reason)
			if err != nil {
				return err
			}
			return e.showSilence(s)
		}}
	c.Flags().StringVar(&reason, "reason", "", "why it ends early (optional; kept in the audit trail)")
	return c
}

func (e *env) showSilence(s *client.Silence) error {
	if e.output == "json" {
		return e.json(s)
	}
	kv := [][2]string{{"id", s.ID}, {"state", s.State}, {"matcher", s.Matcher}, {"webhooks", webhooksOf(*s)},
		{"starts", fmtTime(&s.StartsAt)}, {"ends", fmtTime(&s.EndsAt)}, {"reason", s.Reason}, {"created by", s.CreatedBy}}
	if s.EndedBy != "" {
		kv = append(kv, [2]string{"ended by", s.EndedBy})
	}
	e.fields(kv)
	return nil
}
