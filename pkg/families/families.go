// Package families is the registry of event families: the one place that lists them. Adding a
// family is a schema in schemas/, a package beside these and one line here.
package families

import (
	"github.com/taskhook/taskhook/pkg/event"
	"github.com/taskhook/taskhook/pkg/families/battery"
	"github.com/taskhook/taskhook/pkg/families/ops"
	"github.com/taskhook/taskhook/pkg/families/report"
	"github.com/taskhook/taskhook/pkg/families/task"
)

// All declares every family; the first (task) is the default for bodies without "type". The
// operational families (webhook, delivery) are internal: Taskhook publishes them itself.
func All() []event.Family {
	return append([]event.Family{task.Family(), report.Family(), battery.Family()}, ops.Families()...)
}

// Catalog compiles every family's schema into the catalog both services use.
func Catalog() (*event.Catalog, error) { return event.NewCatalog(All()...) }

// Subjects lists the stream subjects of every family, without compiling schemas.
func Subjects() []string {
	all := All()
	ps := make([]*event.Family, len(all))
	for i := range all {
		ps[i] = &all[i]
	}
	return event.StreamSubjects(ps...)
}
