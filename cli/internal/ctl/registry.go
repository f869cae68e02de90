package ctl

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// providersCmd lists the providers as the dispatcher's registry describes them: nothing here
// names a provider, so a new one appears without a change to taskhookctl.
func (e *env) providersCmd() *cobra.Command {
	return &cobra.Command{Use: "providers", Short: "List the providers a webhook can use, with what each needs (URL, auth, options)",
		Args: exact(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			ps, auths, err := a.Providers(cmd.Context())
			if err != nil {
				return err
			}
			if e.output == "json" {
				return e.json(map[string]any{"providers": ps, "auth_types": auths})
			}
			rows := make([][]string, 0, len(ps))
			for _, p := range ps {
				url := p.URLLabel
				if p.URLIsSecret {
					url += " (a secret)"
				}
				var opts []string
				for _, o := range p.Options {
					opts = append(opts, o.Name)
				}
				digest := "no"
				if p.Digest {
					digest = "yes"
				}
				fams := "all"
				if len(p.Families) > 0 {
					fams = strings.Join(p.Families, ",")
				}
				rows = append(rows, []string{p.Name, p.Label, url, strings.Join(p.AuthTypes, ","), orDash(strings.Join(opts, ",")), digest, fams})
			}
			e.table([]string{"NAME", "FOR", "URL", "AUTH", "OPTIONS", "DIGEST", "FAMILIES"}, rows)
			return nil
		}}
}

// eventTypesCmd lists the event catalog: the clinical types, then the operational ones.
func (e *env) eventTypesCmd() *cobra.Command {
	return &cobra.Command{Use: "event-types", Aliases: []string{"events"}, Short: "List the event types webhooks can subscribe to (family.* and * too)",
		Args: exact(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := e.admin()
			if err != nil {
				return err
			}
			ts, err := a.EventTypes(cmd.Context())
			if err != nil {
				return err
			}
			if e.output == "json" {
				return e.json(map[string]any{"event_types": ts})
			}
			rows := make([][]string, 0, len(ts))
			for _, internal := range []bool{false, true} {
				for _, t := range ts {
					if t.Internal != internal {
						continue
					}
					kind := "clinical"
					if internal {
						kind = "operational"
					}
					rows = append(rows, []string{t.Type, t.Family, kind, orDash(t.Label)})
				}
			}
			e.table([]string{"TYPE", "FAMILY", "KIND", "LABEL"}, rows)
			fmt.Fprintln(e.Err, `Subscribe to a type, to "<family>.*", or to "*" (every clinical type; operational types only when named).`)
			return nil
		}}
}
