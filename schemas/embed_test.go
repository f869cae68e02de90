package schemas

import (
	"encoding/json"
	"testing"
)

func TestSchemasAreJSONWithTheirIDs(t *testing.T) {
	for _, c := range []struct {
		file string
		doc  []byte
		id   string
	}{
		{"task-event.v1.json", TaskEventV1, TaskEventV1ID},
		{"report-event.v1.json", ReportEventV1, ReportEventV1ID},
		{"battery-event.v1.json", BatteryEventV1, BatteryEventV1ID},
		{"ops-event.v1.json", OpsEventV1, OpsEventV1ID},
	} {
		var doc struct {
			Schema string `json:"$schema"`
			ID     string `json:"$id"`
			Extra  *bool  `json:"additionalProperties"`
		}
		if err := json.Unmarshal(c.doc, &doc); err != nil {
			t.Fatalf("%s is not JSON: %v", c.file, err)
		}
		if doc.ID != c.id {
			t.Errorf("%s: $id = %q, want %q", c.file, doc.ID, c.id)
		}
		if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %q, want draft 2020-12", c.file, doc.Schema)
		}
		if doc.Extra == nil || *doc.Extra {
			t.Errorf("%s: unknown top-level fields must be rejected (additionalProperties: false)", c.file)
		}
	}
}
