// Package providers is the registry of delivery providers: the one place that lists them.
// Adding a provider is a package under notify/ and one entry here; what it needs beyond
// rendering (a URL that is a secret, a default rate limit, the families it renders) it declares
// through notify's small optional interfaces.
package providers

import (
	"github.com/taskhook/taskhook/dispatcher/internal/notify"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/email"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/fhir"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/generic"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/pagerduty"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/slack"
	"github.com/taskhook/taskhook/dispatcher/internal/notify/teams"
	"github.com/taskhook/taskhook/pkg/event"
)

// All registers every provider, for the events of cat, in the order the API lists them.
func All(cat *event.Catalog) notify.Registry {
	return notify.NewRegistry(generic.New(), slack.New(cat), teams.New(cat), fhir.New(), pagerduty.New(cat), email.New(cat))
}
