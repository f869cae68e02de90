package ctl

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/taskhook/taskhook/client"
)

// webhookArg resolves a command's WEBHOOK argument: a webhook id is taken as it is; anything
// else must be the name of exactly one webhook (compared exactly, else ignoring case). No match
// and several matches are usage errors that say what to type instead.
func (e *env) webhookArg(ctx context.Context, a *client.Admin, arg string) (string, error) {
	if webhookID.MatchString(arg) {
		return arg, nil
	}
	ws, err := a.ListWebhooks(ctx)
	if err != nil {
		return "", err
	}
	return matchWebhook(ws, arg)
}

// webhookID is the form of a webhook id (a UUID); names of that form are not looked up.
var webhookID = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// matchWebhook is the rule of webhookArg over a list of webhooks.
func matchWebhook(ws []client.Webhook, name string) (string, error) {
	var exact, folded []client.Webhook
	for _, w := range ws {
		switch {
		case w.Name == name:
			exact = append(exact, w)
		case strings.EqualFold(w.Name, name):
			folded = append(folded, w)
		}
	}
	found := exact
	if len(found) == 0 {
		found = folded
	}
	switch len(found) {
	case 1:
		return found[0].ID, nil
	case 0:
		return "", usagef("no webhook has the id or name %q (taskhookctl webhooks list shows them)", name)
	}
	lines := make([]string, len(found))
	for i, w := range found {
		lines[i] = fmt.Sprintf("  %s  %s (%s)", w.ID, w.Name, w.Provider)
	}
	return "", usagef("%d webhooks are named %q; pass one's id:\n%s", len(found), name, strings.Join(lines, "\n"))
}
