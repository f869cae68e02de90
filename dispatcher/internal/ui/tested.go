package ui

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"
)

// A form's Test sends an unsaved webhook (a write: an outbound request and an audit record), so
// its answer is a redirect too (POST/redirect/GET): the form as typed and the result wait here,
// under an unguessable id that the redirect names and that only the session that tested can read.
// Reloading that page reads them again and writes nothing. They are kept in memory for
// testedTTL (a redirect to another replica, or a later visit, finds none: the form asks to test
// again); the form, unlike a generated secret, carries nothing the admin did not just type.

// testedTTL is how long a tested form can be shown again (reloads, the back button).
const testedTTL = 10 * time.Minute

// maxTested bounds the forms kept (the oldest go first): at most a few hundred kilobytes each.
const maxTested = 256

type testedForm struct {
	nonce   string // the session's: another session cannot read it
	expires time.Time
	data    formData
}

type testedForms struct {
	mu    sync.Mutex
	m     map[string]*testedForm
	order []string // insertion order, for eviction
}

func newTestedForms() *testedForms { return &testedForms{m: map[string]*testedForm{}} }

// put keeps d for the session and returns its id.
func (t *testedForms) put(nonce string, d formData, now time.Time) string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic("ui: crypto/rand failed: " + err.Error())
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	t.mu.Lock()
	defer t.mu.Unlock()
	// Drop what expired, then the oldest beyond the bound.
	kept := t.order[:0]
	for _, k := range t.order {
		if f := t.m[k]; f != nil && now.Before(f.expires) {
			kept = append(kept, k)
		} else {
			delete(t.m, k)
		}
	}
	t.order = kept
	for len(t.order) >= maxTested {
		delete(t.m, t.order[0])
		t.order = t.order[1:]
	}
	t.m[id] = &testedForm{nonce: nonce, expires: now.Add(testedTTL), data: d}
	t.order = append(t.order, id)
	return id
}

// get returns the form tested under id by the session, if it is still kept.
func (t *testedForms) get(id, nonce string, now time.Time) (formData, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f := t.m[id]
	if f == nil || f.nonce != nonce || !now.Before(f.expires) {
		return formData{}, false
	}
	return f.data, true
}
