package quiet

import (
	"fmt"
	"strconv"
)

// subjects are the fields that say what an event is about, most specific first: a device (its
// battery, a report from it), a task, a patient, a report. A field an event lacks is skipped.
var subjects = []struct {
	path  []string
	label string
}{
	{[]string{"device", "id"}, "device"},
	{[]string{"task_id"}, "task"},
	{[]string{"patient", "id"}, "patient"},
	{[]string{"report_id"}, "report"},
}

// Similar is the matcher of "silence similar" for an event of type typ: the same type and the
// same subject (device, task, patient or report id), and what that subject is ("device D-991");
// just the type when the event names no subject.
func Similar(typ string, ev map[string]any) (matcher, subject string) {
	matcher = "type == " + strconv.Quote(typ)
	for _, s := range subjects {
		v, ok := lookup(ev, s.path)
		if !ok {
			continue
		}
		expr := "event"
		for _, p := range s.path {
			expr += "." + p
		}
		return fmt.Sprintf("%s && %s == %s", matcher, expr, strconv.Quote(v)), s.label + " " + v
	}
	return matcher, ""
}

func lookup(ev map[string]any, path []string) (string, bool) {
	var cur any = ev
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur = m[p]
	}
	s, ok := cur.(string)
	return s, ok && s != ""
}
