package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) webhooksCmd() *cobra.Command {
	c := &cobra.Command{Use: "webhooks", Aliases: []string{"webhook", "wh"}, Short: "List, inspect, create, test, pause, resume and delete webhooks (WEBHOOK: an id or a unique name)"}
	c.AddCommand(
		&cobra.Command{Use: "list", Short: "List every webhook with its health", Args: exact(0, "no arguments"), RunE: e.webhooksList},
		&cobra.Command{Use: "get WEBHOOK", Short: "Show one webhook", Args: exact(1, "a webhook id or name"), RunE: e.webhooksGet},
		e.webhooksCreate(), e.webhooksUpdate(), e.webhooksTest(),
		&cobra.Command{Use: "pause WEBHOOK", Short: "Deactivate a webhook (what matches meanwhile is delivered only by a replay)", Args: exact(1, "a webhook id or name"),
			RunE: func(cmd *cobra.Command, args []string) error { return e.setActive(cmd, args[0], false) }},
		&cobra.Command{Use: "resume WEBHOOK", Short: "Activate a webhook again", Args: exact(1, "a webhook id or name"),
			RunE: func(cmd *cobra.Command, args []string) error { return e.setActive(cmd, args[0], true) }},
		&cobra.Command{Use: "delete WEBHOOK", Short: "Delete a webhook with its deliveries", Args: exact(1, "a webhook id or name"), RunE: e.webhooksDelete},
	)
	return c
}

func (e *env) webhooksList(cmd *cobra.Command, _ []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	ws, err := a.ListWebhooks(cmd.Context())
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.json(map[string]any{"webhooks": ws})
	}
	rows := make([][]string, 0, len(ws))
	for _, w := range ws {
		rows = append(rows, []string{w.ID, w.Name, w.Provider, strings.Join(w.Events, ","), fmt.Sprint(w.Active), w.Health.State,
			rate(w.Health.SuccessRate24h), fmtTime(w.Health.LastDeliveryAt), fmt.Sprint(w.Health.ConsecutiveFailures)})
	}
	e.table([]string{"ID", "NAME", "PROVIDER", "EVENTS", "ACTIVE", "HEALTH", "SUCCESS 24H", "LAST DELIVERY", "FAILURES"}, rows)
	return nil
}

func rate(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", *r*100)
}

func (e *env) showWebhook(w *client.Webhook) error {
	if e.output == "json" {
		return e.json(w)
	}
	kv := [][2]string{
		{"id", w.ID}, {"name", w.Name}, {"url", w.URL}, {"provider", w.Provider}, {"events", strings.Join(w.Events, ", ")},
		{"filter", orDash(w.Filter)}, {"active", fmt.Sprint(w.Active)}, {"auth", strings.TrimSpace(w.Auth.Type + " " + w.Auth.Hint)},
		{"max attempts", fmt.Sprint(w.MaxAttempts)}, {"timezone", w.Timezone},
		{"health", fmt.Sprintf("%s (success 24h %s, last delivery %s, consecutive failures %d)", w.Health.State,
			rate(w.Health.SuccessRate24h), fmtTime(w.Health.LastDeliveryAt), w.Health.ConsecutiveFailures)},
	}
	if w.DisabledReason != "" {
		kv = append(kv, [2]string{"disabled", w.DisabledReason + " at " + fmtTime(w.DisabledAt)})
	}
	if w.Description != "" {
		kv = append(kv, [2]string{"description", w.Description})
	}
	kv = append(kv, [2]string{"created", fmtTime(&w.CreatedAt)}, [2]string{"updated", fmtTime(&w.UpdatedAt)})
	if w.Auth.Secret != "" {
		kv = append(kv, [2]string{"secret", w.Auth.Secret + "  (shown once: store it to verify signatures)"})
	}
	e.fields(kv)
	return nil
}

func (e *env) webhooksGet(cmd *cobra.Command, args []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
		return err
	}
	w, err := a.GetWebhook(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	return e.showWebhook(w)
}

func (e *env) webhooksCreate() *cobra.Command {
	var file string
	c := &cobra.Command{Use: "create -f body.json", Short: "Create a webhook from a JSON body (as POST /v1/webhooks takes it)",
		Long: `Create a webhook from a JSON body, e.g.
  {"name": "Care team desk", "url": "https://hooks.example.org/taskhook", "events": ["task.*"], "auth": {"type": "hmac"}}
An hmac webhook without a secret gets a generated one, shown once in the answer.
taskhookctl providers lists the providers and what each needs (URL, auth, options);
taskhookctl event-types lists what "events" takes.`,
		Args: exact(0, "no arguments (the body comes from -f)"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			body, err := e.readBody(file)
			if err != nil {
				return err
			}
			a, err := e.admin()
			if err != nil {
				return err
			}
			w, err := a.CreateWebhook(cmd.Context(), body)
			if err != nil {
				return err
			}
			return e.showWebhook(w)
		}}
	c.Flags().StringVarP(&file, "file", "f", "", "the webhook's JSON body (- for stdin)")
	return c
}

func (e *env) webhooksUpdate() *cobra.Command {
	var file string
	c := &cobra.Command{Use: "update WEBHOOK -f patch.json", Short: "Change the fields given in a JSON body (as PATCH /v1/webhooks/{id} takes it)",
		Long: `Change the fields present in a JSON body, e.g. {"url": "https://hooks.example.org/fixed"}.
{"auth": {"type": "hmac"}} rotates the secret: the new one is shown once, and the previous one
keeps signing beside it for the rotation grace (two signatures are sent).`,
		Args: exact(1, "a webhook id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := e.readBody(file)
			if err != nil {
				return err
			}
			a, err := e.admin()
			if err != nil {
				return err
			}
			if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
				return err
			}
			w, err := a.UpdateWebhook(cmd.Context(), args[0], body)
			if err != nil {
				return err
			}
			return e.showWebhook(w)
		}}
	c.Flags().StringVarP(&file, "file", "f", "", "the fields to change, as JSON (- for stdin)")
	return c
}

func (e *env) webhooksTest() *cobra.Command {
	var event string
	c := &cobra.Command{Use: "test WEBHOOK", Short: "Send a sample event now through the real render, sign and send path",
		Long: "Send a sample event now and show the endpoint's answer. Exits 1 when the endpoint did not accept it.",
		Args: exact(1, "a webhook id or name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
				return err
			}
			r, err := a.TestWebhook(cmd.Context(), args[0], event)
			if err != nil {
				return err
			}
			if e.output == "json" {
				if err := e.json(r); err != nil {
					return err
				}
			} else {
				e.fields([][2]string{{"ok", fmt.Sprint(r.OK)}, {"event type", r.EventType}, {"status code", fmtCode(r.StatusCode)},
					{"duration", fmt.Sprintf("%d ms", r.DurationMS)}, {"error", orDash(r.Error)}, {"response", orDash(r.ResponseExcerpt)},
					{"webhook-id", r.WebhookID}})
			}
			if !r.OK {
				return failedf("the endpoint did not accept the test event")
			}
			return nil
		}}
	c.Flags().StringVar(&event, "event", "", "event type to send (default: the first type the webhook takes)")
	return c
}

func (e *env) setActive(cmd *cobra.Command, id string, active bool) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	if id, err = e.webhookArg(cmd.Context(), a, id); err != nil {
		return err
	}
	var w *client.Webhook
	if active {
		w, err = a.ResumeWebhook(cmd.Context(), id)
	} else {
		w, err = a.PauseWebhook(cmd.Context(), id)
	}
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.json(w)
	}
	state := "paused"
	if active {
		state = "resumed (events that matched while it was paused are delivered only by a replay)"
	}
	fmt.Fprintf(e.Out, "webhook %s (%s) %s\n", w.ID, w.Name, state)
	return nil
}

func (e *env) webhooksDelete(cmd *cobra.Command, args []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	if args[0], err = e.webhookArg(cmd.Context(), a, args[0]); err != nil {
		return err
	}
	if err := a.DeleteWebhook(cmd.Context(), args[0]); err != nil {
		return err
	}
	if e.output == "json" {
		return e.json(map[string]any{"deleted": args[0]})
	}
	fmt.Fprintf(e.Out, "webhook %s deleted\n", args[0])
	return nil
}
