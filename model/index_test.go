package model

import "testing"

// The Index and the Model's scans are two ways to the same answer: the first element of
// a name wins, and "" finds nothing even when an element has no name.
func TestIndexAgreesWithScans(t *testing.T) {
	m := &Model{
		Backends: []*Backend{{Region: "nameless"}, {Name: "b"}, {Name: "b", Region: "second"}, nil},
		Pools:    []*Pool{{}, {Name: "p"}, {Name: "p"}},
		APIs:     []*API{{}, {Name: "a"}, {Name: "a"}},
	}
	ix := NewIndex(m)
	for _, name := range []string{"", "b", "p", "a", "nope"} {
		if got, want := ix.Backend(name), m.Backend(name); got != want {
			t.Errorf("Backend(%q): index %p, scan %p", name, got, want)
		}
		if got, want := ix.Pool(name), m.Pool(name); got != want {
			t.Errorf("Pool(%q): index %p, scan %p", name, got, want)
		}
		if got, want := ix.API(name), m.API(name); got != want {
			t.Errorf("API(%q): index %p, scan %p", name, got, want)
		}
	}
	if ix.Backend("b") != m.Backends[1] || ix.Pool("p") != m.Pools[1] || ix.API("a") != m.APIs[1] {
		t.Error("the first of duplicates must win")
	}
	if ix.Backend("") != nil || ix.Pool("") != nil || ix.API("") != nil {
		t.Error(`"" must find nothing`)
	}
}

// A listener that lists "" is told so, even when an API lacks its name (the Index
// once returned that API for "").
func TestListenerNamesEmptyAPI(t *testing.T) {
	_, err := LoadBytes("m.yaml", []byte("backends: [{name: b, url: http://b}]\napis: [{backend: b}]\nlisteners: [{name: l, port: 1, apis: ['']}]\n"))
	want := "m.yaml:2: apis[0].name: is required: the API's name (1–100 of A-Z a-z 0-9 . _ -)\n" +
		`m.yaml:3: listeners[0].apis[0]: no API named ""`
	if err == nil || err.Error() != want {
		t.Fatalf("error:\n%v\nwant:\n%s", err, want)
	}
}
