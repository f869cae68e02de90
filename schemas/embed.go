// Package schemas holds Taskhook's JSON Schemas, embedded so that every service and test
// validates against the same bytes.
package schemas

import _ "embed"

// TaskEventV1 is schemas/task-event.v1.json, the task event accepted by ingest.
//
//go:embed task-event.v1.json
var TaskEventV1 []byte

// TaskEventV1ID is the $id of TaskEventV1.
const TaskEventV1ID = "https://taskhook.dev/schemas/task-event.v1.json"
