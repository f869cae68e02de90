package event_test

import "testing"

func BenchmarkValidateSeed(b *testing.B) {
	v := newValidator(b)
	body := seed(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := v.Validate(body, "", fixedID); err != nil {
			b.Fatal(err)
		}
	}
}
