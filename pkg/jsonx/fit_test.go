package jsonx

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return fmt.Errorf("must be a duration string")
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

type auth struct {
	Type  string `json:"type"`
	Token string `json:"token"`
}

type Embedded struct {
	Note string `json:"note"`
}

type body struct {
	Embedded
	Name    string            `json:"name"`
	Events  []string          `json:"events"`
	Max     *int              `json:"max_attempts"`
	Rate    float64           `json:"rate"`
	Small   int8              `json:"small"`
	Auth    *auth             `json:"auth"`
	Labels  map[string]string `json:"labels"`
	Raw     json.RawMessage   `json:"options"`
	Any     any               `json:"any"`
	Wait    duration          `json:"wait"`
	Ignored string            `json:"-"`
}

func TestFit(t *testing.T) {
	million := strings.Repeat("9", 1000000)
	cases := []struct {
		name, in string
		want     []string // "pointer: part of the message"
	}{
		{"fits", `{"name":"a","NAME":"b","events":["x"],"max_attempts":3,"rate":1.5,"auth":{"type":"bearer","token":"t"},"labels":{"a":"b"},"options":{"any":1},"any":[1,{"a":null}],"wait":"5s","note":"n"}`, nil},
		{"nulls", `{"name":null,"events":null,"auth":null,"max_attempts":null}`, nil},
		{"nested unknown", `{"auth":{"type":"bearer","token":"t","x":1}}`, []string{"/auth/x: unknown field"}},
		{"every unknown", `{"x":1,"auth":{"y":2,"z":3},"w~/":4}`, []string{"/auth/y: unknown", "/auth/z: unknown", "/w~0~1: unknown", "/x: unknown"}},
		{"array element", `{"events":[5,"ok",true]}`, []string{"/events/0: must be a string, got a number", "/events/2: must be a string, got true or false"}},
		{"array of strings", `{"events":"task.created"}`, []string{"/events: must be an array of strings, got a string"}},
		{"fraction", `{"max_attempts":2.5}`, []string{"/max_attempts: must be a whole number, got 2.5"}},
		{"exponent", `{"max_attempts":1e2}`, []string{"/max_attempts: without a fraction or exponent"}},
		{"int overflow", `{"small":300}`, []string{"/small: between -128 and 127"}},
		{"float overflow", `{"rate":1e400}`, []string{"/rate: is out of range: 1e400"}},
		{"million digits", `{"max_attempts":` + million + `}`, []string{"/max_attempts: whole number between"}},
		{"million digits in any", `{"any":{"a":[` + million + `]}}`, []string{"/any/a/0: is out of range"}},
		{"wrong kind", `{"auth":"x","labels":[1],"name":{}}`, []string{"/auth: must be an object, got a string", "/labels: must be an object, got an array", "/name: must be a string, got an object"}},
		{"unmarshaler", `{"wait":"soon"}`, []string{"/wait: time: invalid duration"}},
	}
	for _, c := range cases {
		es := Fit([]byte(c.in), reflect.TypeOf(&body{}))
		if len(es) != len(c.want) {
			t.Errorf("%s: %v", c.name, Truncate(es.Error()))
			continue
		}
		for i, w := range c.want {
			path, msg, _ := strings.Cut(w, ": ")
			if es[i].Path != path || !strings.Contains(es[i].Message, msg) || len(es[i].Message) > MaxMessage+20 {
				t.Errorf("%s: %d: %s: %.200s, want %s", c.name, i, es[i].Path, es[i].Message, w)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	var b body
	if err := Decode([]byte(`{"name":"a","max_attempts":3}`), &b); err != nil || b.Name != "a" || *b.Max != 3 {
		t.Fatalf("%+v %v", b, err)
	}
	err := Decode([]byte(`{"name":`+strings.Repeat("1", 100000)+`x}`), &b)
	if !errors.Is(err, ErrSyntax) || len(err.Error()) > MaxMessage+40 {
		t.Fatalf("syntax: %.300v", err)
	}
	var es Errors
	if err := Decode([]byte(`{"name":"a","name":"b"}`), &b); !errors.As(err, &es) || es[0].Path != "/name" {
		t.Fatalf("duplicate: %v", err)
	}
	if err := Decode([]byte(`{"auth":{"x":1},"y":2}`), &b); !errors.As(err, &es) || len(es) != 2 {
		t.Fatalf("unknown: %v", err)
	}
}
