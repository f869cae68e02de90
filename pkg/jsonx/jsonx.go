// Package jsonx checks what encoding/json lets through silently: an object with the same key
// twice (json.Unmarshal keeps the last, so what was validated is not what the raw bytes say to a
// receiver that keeps the first), strings that are not valid UTF-8 or hold a lone UTF-16
// surrogate (json.Unmarshal turns both into U+FFFD, while the raw bytes are delivered as sent),
// and NUL characters (PostgreSQL text cannot hold them). Check runs over JSON that is already
// known to be well formed, in one pass, allocating only for objects with many keys.
package jsonx

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Error locates a problem by a JSON pointer.
type Error struct {
	Path    string
	Message string
}

func (e *Error) Error() string { return e.Path + ": " + e.Message }

// Check reports the first duplicate key, invalid UTF-8, lone surrogate or NUL in b, which must
// be well-formed JSON (json.Valid). It returns nil when there is none.
func Check(b []byte) *Error {
	s := scanner{b: b, path: make([]token, 0, 8)}
	s.value(0)
	return s.err
}

type scanner struct {
	b    []byte
	i    int
	path []token // reference tokens to the current value
	err  *Error
}

// token is one step of the path: an object key (its value's bytes) or an array index.
type token struct {
	key   []byte
	index int // -1 for a key
}

func (s *scanner) fail(msg string) {
	if s.err == nil {
		s.err = &Error{Path: pointer(s.path), Message: msg}
	}
}

// pointer builds the JSON pointer (only on error: the scan itself allocates no strings).
func pointer(tokens []token) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		if t.index >= 0 {
			sb.WriteString(strconv.Itoa(t.index))
			continue
		}
		sb.WriteString(strings.ReplaceAll(strings.ReplaceAll(string(t.key), "~", "~0"), "/", "~1"))
	}
	return sb.String()
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value(depth int) {
	s.space()
	if s.err != nil || s.i >= len(s.b) {
		return
	}
	switch s.b[s.i] {
	case '{':
		s.object(depth + 1)
	case '[':
		s.array(depth + 1)
	case '"':
		s.str()
	default: // number, true, false, null: skip to the next delimiter
		for ; s.i < len(s.b); s.i++ {
			switch s.b[s.i] {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return
			}
		}
	}
}

func (s *scanner) object(depth int) {
	s.i++ // the {
	// The first keys are compared in place (most objects have fewer than 16).
	var keys [16][]byte
	small := keys[:0]
	var large map[string]bool
	for s.err == nil {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] == '}' {
			s.i++
			return
		}
		if s.b[s.i] == ',' {
			s.i++
			continue
		}
		key := s.str()
		if s.err != nil {
			return
		}
		dup := false
		switch {
		case large != nil:
			dup = large[string(key)]
			large[string(key)] = true
		case len(small) < cap(small):
			for _, k := range small {
				dup = dup || bytes.Equal(k, key)
			}
			small = append(small, key)
		default:
			large = make(map[string]bool, 64)
			for _, k := range small {
				large[string(k)] = true
			}
			dup = large[string(key)]
			large[string(key)] = true
		}
		s.path = append(s.path, token{key: key, index: -1})
		if dup {
			s.fail("the key appears twice in this object; send it once")
			return
		}
		s.space()
		s.i++ // :
		s.value(depth)
		s.path = s.path[:len(s.path)-1]
	}
}

func (s *scanner) array(depth int) {
	s.i++ // [
	for n := 0; s.err == nil; {
		s.space()
		if s.i >= len(s.b) || s.b[s.i] == ']' {
			s.i++
			return
		}
		if s.b[s.i] == ',' {
			s.i++
			n++
			continue
		}
		s.path = append(s.path, token{index: n})
		s.value(depth)
		s.path = s.path[:len(s.path)-1]
	}
}

// str reads a string at s.i (its opening quote) and returns its value: the input's bytes, or a
// copy only when it held an escape (keys are compared by value, so "a" and "\u0061" are the
// same key).
func (s *scanner) str() []byte {
	s.i++ // "
	start := s.i
	var sb *bytes.Buffer
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			out := s.b[start:s.i]
			if sb != nil {
				out = sb.Bytes()
			}
			s.i++
			return out
		case c == 0:
			s.fail("holds a NUL character")
			return nil
		case c == '\\':
			if sb == nil {
				sb = &bytes.Buffer{}
				sb.Write(s.b[start:s.i])
			}
			s.escape(sb)
		case c < utf8.RuneSelf:
			if sb != nil {
				sb.WriteByte(c)
			}
			s.i++
		default:
			r, n := utf8.DecodeRune(s.b[s.i:])
			if r == utf8.RuneError && n <= 1 {
				s.fail("is not valid UTF-8 text")
				return nil
			}
			if sb != nil {
				sb.WriteRune(r)
			}
			s.i += n
		}
		if s.err != nil {
			return nil
		}
	}
	return nil
}

func (s *scanner) escape(sb *bytes.Buffer) {
	if s.i+1 >= len(s.b) {
		s.i = len(s.b)
		return
	}
	if s.b[s.i+1] != 'u' {
		sb.WriteByte(unescape(s.b[s.i+1]))
		s.i += 2
		return
	}
	r, ok := hex4(s.b, s.i+2)
	s.i += 6
	if !ok {
		s.fail("holds a malformed \\u escape")
		return
	}
	if utf16.IsSurrogate(r) {
		r2, ok2 := rune(0), false
		if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
			r2, ok2 = hex4(s.b, s.i+2)
		}
		pair := utf16.DecodeRune(r, r2)
		if !ok2 || pair == utf8.RuneError {
			s.fail("holds a lone UTF-16 surrogate (\\u" + fmt.Sprintf("%04x", r) + "); send the character itself or a complete pair")
			return
		}
		s.i += 6
		r = pair
	}
	if r == 0 {
		s.fail("holds a NUL character (\\u0000)")
		return
	}
	sb.WriteRune(r)
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	}
	return c // " \ /
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[at:at+4]), 16, 16)
	return rune(v), err == nil
}
