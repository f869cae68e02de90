package schemas

import (
	"encoding/json"
	"testing"
)

func TestTaskEventV1IsJSONWithItsID(t *testing.T) {
	var doc struct {
		Schema string `json:"$schema"`
		ID     string `json:"$id"`
	}
	if err := json.Unmarshal(TaskEventV1, &doc); err != nil {
		t.Fatalf("task-event.v1.json is not JSON: %v", err)
	}
	if doc.ID != TaskEventV1ID {
		t.Errorf("$id = %q, want %q", doc.ID, TaskEventV1ID)
	}
	if doc.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q, want draft 2020-12", doc.Schema)
	}
}
