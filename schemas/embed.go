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

// ReportEventV1 is schemas/report-event.v1.json, goReporter's report events.
//
//go:embed report-event.v1.json
var ReportEventV1 []byte

// ReportEventV1ID is the $id of ReportEventV1.
const ReportEventV1ID = "https://taskhook.dev/schemas/report-event.v1.json"

// BatteryEventV1 is schemas/battery-event.v1.json, goReporter's device battery events.
//
//go:embed battery-event.v1.json
var BatteryEventV1 []byte

// BatteryEventV1ID is the $id of BatteryEventV1.
const BatteryEventV1ID = "https://taskhook.dev/schemas/battery-event.v1.json"

// OpsEventV1 is schemas/ops-event.v1.json, the operational events Taskhook publishes about its
// own webhooks (webhook.*, delivery.*).
//
//go:embed ops-event.v1.json
var OpsEventV1 []byte

// OpsEventV1ID is the $id of OpsEventV1.
const OpsEventV1ID = "https://taskhook.dev/schemas/ops-event.v1.json"
