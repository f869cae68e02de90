package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestParsePolicy(t *testing.T) {
	a, b := uuid.New(), uuid.New()
	tests := []struct {
		body  string
		paths []string // problems expected, by path
		want  *Policy
	}{
		{`{"acknowledge_within": "15m", "escalate_to": ["` + a.String() + `"]}`, nil, &Policy{AcknowledgeWithin: 15 * time.Minute, EscalateTo: []uuid.UUID{a}}},
		{`{"acknowledge_within": "10s", "escalate_to": ["` + a.String() + `", "` + b.String() + `"], "repeat": 3}`, nil, &Policy{AcknowledgeWithin: 10 * time.Second, EscalateTo: []uuid.UUID{a, b}, Repeat: 3}},
		{`null`, nil, nil},
		{`{"acknowledge_within": "9s", "escalate_to": ["` + a.String() + `"]}`, []string{"/escalation/acknowledge_within"}, nil},
		{`{"acknowledge_within": "25h", "escalate_to": ["` + a.String() + `"]}`, []string{"/escalation/acknowledge_within"}, nil},
		{`{"acknowledge_within": "soon", "escalate_to": ["` + a.String() + `"]}`, []string{"/escalation/acknowledge_within"}, nil},
		{`{"acknowledge_within": 15, "escalate_to": ["` + a.String() + `"]}`, []string{"/escalation/acknowledge_within"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": []}`, []string{"/escalation/escalate_to"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": ["nope"]}`, []string{"/escalation/escalate_to/0"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": ["` + a.String() + `", "` + a.String() + `"]}`, []string{"/escalation/escalate_to/1"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": ["` + a.String() + `"], "repeat": 4}`, []string{"/escalation/repeat"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": ["` + a.String() + `"], "repeat": -1}`, []string{"/escalation/repeat"}, nil},
		{`{"acknowledge_within": "15m", "escalate_to": ["` + a.String() + `"], "repaet": 1}`, []string{"/escalation/repaet"}, nil},
		{`{}`, []string{"/escalation/acknowledge_within", "/escalation/escalate_to"}, nil},
		{`"15m"`, []string{"/escalation"}, nil},
	}
	for _, tt := range tests {
		got, ps := ParsePolicy(json.RawMessage(tt.body), nil)
		var paths []string
		for _, p := range ps {
			paths = append(paths, p.Path)
			if p.Message == "" {
				t.Errorf("%s: problem at %s without a message", tt.body, p.Path)
			}
		}
		if strings.Join(paths, ",") != strings.Join(tt.paths, ",") {
			t.Errorf("%s: problems at %v, want %v (%v)", tt.body, paths, tt.paths, ps)
			continue
		}
		if tt.paths == nil {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(tt.want)
			if string(gj) != string(wj) {
				t.Errorf("%s: policy %s, want %s", tt.body, gj, wj)
			}
		}
	}
	six := `{"acknowledge_within": "1m", "escalate_to": [` + strings.TrimSuffix(strings.Repeat(`"`+uuid.NewString()+`",`, 1), ",")
	for i := 0; i < 5; i++ {
		six += `,"` + uuid.NewString() + `"`
	}
	if _, ps := ParsePolicy(json.RawMessage(six+`]}`), nil); len(ps) != 1 || ps[0].Path != "/escalation/escalate_to" {
		t.Errorf("six targets: %v", ps)
	}
	cur := &Policy{AcknowledgeWithin: time.Minute}
	if got, ps := ParsePolicy(nil, cur); got != cur || ps != nil {
		t.Error("absent escalation must keep the current one")
	}
}

func TestCheck(t *testing.T) {
	self, slack, teams, fhir := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	peers := map[uuid.UUID]Peer{self: {Provider: "teams"}, slack: {Provider: "slack"}, teams: {Provider: "teams", Fallback: self}, fhir: {Provider: "fhir"}}
	pol := func(ids ...uuid.UUID) *Policy { return &Policy{AcknowledgeWithin: time.Minute, EscalateTo: ids} }
	tests := []struct {
		name  string
		s     Subject
		url   string
		paths []string
	}{
		{"fine", Subject{ID: self, Provider: "teams", Escalation: pol(slack)}, "https://th", nil},
		{"fhir", Subject{ID: self, Provider: "fhir", Escalation: pol(slack)}, "https://th", []string{"/escalation"}},
		{"digest", Subject{ID: self, Provider: "slack", HasDigest: true, Escalation: pol(slack)}, "https://th", []string{"/escalation"}},
		{"no public URL", Subject{ID: self, Provider: "teams", Escalation: pol(slack)}, "", []string{"/escalation"}},
		{"own id", Subject{ID: self, Provider: "teams", Escalation: pol(slack, self)}, "https://th", []string{"/escalation/escalate_to/1"}},
		{"unknown id", Subject{ID: self, Provider: "teams", Escalation: pol(uuid.New())}, "https://th", []string{"/escalation/escalate_to/0"}},
		{"fallback without escalation needs no URL", Subject{ID: self, Provider: "teams", Fallback: slack}, "", nil},
		{"fallback to itself", Subject{ID: self, Provider: "teams", Fallback: self}, "", []string{"/fallback"}},
		{"fallback unknown", Subject{ID: self, Provider: "teams", Fallback: uuid.New()}, "", []string{"/fallback"}},
		{"fallback loop through another", Subject{ID: self, Provider: "teams", Fallback: teams}, "", []string{"/fallback"}},
		{"new webhook's fallback chain ends", Subject{ID: uuid.New(), Provider: "slack", Fallback: teams}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := Check(tt.s, peers, tt.url)
			var paths []string
			for _, p := range ps {
				paths = append(paths, p.Path)
			}
			if strings.Join(paths, ",") != strings.Join(tt.paths, ",") {
				t.Errorf("problems at %v, want %v (%v)", paths, tt.paths, ps)
			}
		})
	}
}
