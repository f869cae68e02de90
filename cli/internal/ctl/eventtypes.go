package ctl

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskhook/taskhook/client"
)

func (e *env) eventTypesCmd() *cobra.Command {
	c := &cobra.Command{Use: "event-types", Aliases: []string{"event-type", "events", "types"},
		Short: "List the event types webhooks can subscribe to (family.* and * too); inspect them; create, replace and delete custom ones",
		Args:  exact(0, "no arguments, or a subcommand"), RunE: e.eventTypesList}
	var file string
	apply := &cobra.Command{Use: "apply -f FILE", Short: "Create or replace a custom event type from a JSON definition (type, description, schema, example, summary)",
		Args: exact(0, "no arguments (the definition comes from -f)"), RunE: func(cmd *cobra.Command, _ []string) error { return e.eventTypesApply(cmd, file) }}
	apply.Flags().StringVarP(&file, "file", "f", "", "the definition, a JSON file (- for stdin)")
	c.AddCommand(
		&cobra.Command{Use: "list", Short: "List every event type (built-in and custom)", Args: exact(0, "no arguments"), RunE: e.eventTypesList},
		&cobra.Command{Use: "get TYPE", Short: "Show one event type with its schema and example", Args: exact(1, "an event type"), RunE: e.eventTypesGet},
		apply,
		&cobra.Command{Use: "delete TYPE", Short: "Delete a custom event type (refused while webhooks name it or its family)", Args: exact(1, "an event type"), RunE: e.eventTypesDelete},
	)
	return c
}

func (e *env) eventTypesList(cmd *cobra.Command, _ []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	ts, err := a.ListEventTypes(cmd.Context())
	if err != nil {
		return err
	}
	if e.output == "json" {
		return e.json(map[string]any{"event_types": ts})
	}
	// Clinical types, then custom ones, then the operational ones.
	kindOf := func(t client.EventType) string {
		switch {
		case t.Custom:
			return "custom"
		case t.Internal:
			return "operational"
		}
		return "clinical"
	}
	rows := make([][]string, 0, len(ts))
	for _, kind := range []string{"clinical", "custom", "operational"} {
		for _, t := range ts {
			if kindOf(t) != kind {
				continue
			}
			version := "-"
			if t.Custom {
				version = fmt.Sprint(t.Version)
			}
			rows = append(rows, []string{t.Type, t.Family, kind, orDash(t.Label), version})
		}
	}
	e.table([]string{"TYPE", "FAMILY", "KIND", "LABEL", "VERSION"}, rows)
	fmt.Fprintln(e.Err, `Subscribe to a type, to "<family>.*", or to "*" (every clinical and custom type; operational types only when named).`)
	return nil
}

func (e *env) showEventType(t *client.EventType) error {
	if e.output == "json" {
		return e.json(t)
	}
	kv := [][2]string{{"type", t.Type}, {"family", t.Family}, {"description", orDash(t.Description)}}
	if t.Custom {
		kv = append(kv, [2]string{"version", fmt.Sprint(t.Version)}, [2]string{"updated", fmtTime(t.UpdatedAt)})
		if s := t.Summary; s != nil {
			kv = append(kv, [2]string{"summary", fmt.Sprintf("%s (%s)", s.Title, orDash(s.Severity))})
			for _, f := range s.Facts {
				kv = append(kv, [2]string{"  " + f.Name, f.Value})
			}
			if s.Link != "" {
				kv = append(kv, [2]string{"  link", s.Link})
			}
		}
	} else {
		kv = append(kv, [2]string{"schema file", orDash(t.SchemaFile)})
	}
	kv = append(kv, [2]string{"example", string(t.Example)})
	e.fields(kv)
	return nil
}

func (e *env) eventTypesGet(cmd *cobra.Command, args []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	t, err := a.GetEventType(cmd.Context(), args[0])
	if err != nil {
		return err
	}
	return e.showEventType(t)
}

// eventTypesApply replaces the type the file names when it exists as a custom type, else
// creates it.
func (e *env) eventTypesApply(cmd *cobra.Command, file string) error {
	body, err := e.readBody(file)
	if err != nil {
		return err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(body, &head); err != nil || strings.TrimSpace(head.Type) == "" {
		return usagef("%s: the definition must be a JSON object with its \"type\"", file)
	}
	a, err := e.admin()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	cur, err := a.GetEventType(ctx, head.Type)
	var t *client.EventType
	switch {
	case err == nil && cur.Custom:
		t, err = a.ReplaceEventType(ctx, head.Type, body)
	case err == nil || errors.Is(err, client.ErrNotFound):
		t, err = a.CreateEventType(ctx, body) // a built-in type: the server says why not
	}
	if err != nil {
		return err
	}
	if e.output != "json" {
		fmt.Fprintf(e.Out, "%s: version %d\n", t.Type, t.Version)
		return nil
	}
	return e.json(t)
}

func (e *env) eventTypesDelete(cmd *cobra.Command, args []string) error {
	a, err := e.admin()
	if err != nil {
		return err
	}
	if err := a.DeleteEventType(cmd.Context(), args[0]); err != nil {
		return err
	}
	if e.output != "json" {
		fmt.Fprintf(e.Out, "%s deleted\n", args[0])
		return nil
	}
	return e.json(map[string]any{"deleted": args[0]})
}
