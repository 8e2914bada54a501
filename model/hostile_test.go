package model

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// aliasedUnknownKeys is the shape of a small file that used to exhaust memory: one
// mapping of many unknown keys, aliased many times, so that every alias repeats every
// "unknown field" error.
func aliasedUnknownKeys(keys, aliases int) []byte {
	var b strings.Builder
	b.WriteString("x: &a {")
	for i := range keys {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("}\nbackends: [")
	for range aliases {
		b.WriteString("*a, ")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// Unknown keys, duplicate keys and empty entries count against the node limit, and the
// errors kept are capped as they are found: a 14 KB and a 100 KB file of the alias
// shape load with bounded memory and a short error.
func TestAliasedErrorsAreBounded(t *testing.T) {
	for _, c := range []struct {
		name          string
		keys, aliases int
	}{
		{"14KB", 1000, 1000},
		{"100KB", 5000, 12000},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := aliasedUnknownKeys(c.keys, c.aliases)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := LoadBytes("bomb.yaml", data)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes of YAML: %d MB allocated in total", len(data), alloc>>20)
			// Measured: about 1 MB (14 KB) and 5 MB (100 KB); unbounded, the 14 KB file
			// allocated 521 MB and the 100 KB one ran out of memory.
			if alloc > 64<<20 {
				t.Errorf("loading allocated %d MB, want at most 64", alloc>>20)
			}
			es, _ := AsErrors(err)
			if len(es) != MaxErrors+1 {
				t.Fatalf("want %d errors and a count, got %d:\n%.2000v", MaxErrors, len(es), err)
			}
			if !strings.Contains(err.Error(), "stopped reading this document") {
				t.Errorf("no error says the decoder stopped early:\n%.3000v", err)
			}
		})
	}
}

// Duplicate keys and empty list entries, repeated through aliases, are counted too.
func TestAliasedDuplicatesAndEmptyEntriesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x: &d {name: a")
	for range 300 {
		b.WriteString(", name: a")
	}
	b.WriteString("}\ny: &e [~")
	for range 300 {
		b.WriteString(", ~")
	}
	b.WriteString("]\nz: &p {services: *e}\nbackends: [")
	for range 3000 {
		b.WriteString("*d, ")
	}
	b.WriteString("]\npools: [")
	for range 3000 {
		b.WriteString("*p, ")
	}
	b.WriteString("]\n")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := LoadBytes("dups.yaml", []byte(b.String()))
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of YAML: %d MB allocated in total", b.Len(), alloc>>20)
	if alloc > 64<<20 {
		t.Errorf("loading allocated %d MB, want at most 64", alloc>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "stopped reading this document") {
		t.Errorf("error:\n%.3000v", err)
	}
}

// FuzzAliasLimits: an aliased mapping of unknown, duplicate or empty entries, of any
// size the fuzzer picks, loads with a bounded error list and bounded memory. The seeds
// are the shapes that used to exhaust memory.
func FuzzAliasLimits(f *testing.F) {
	f.Add(uint16(1000), uint16(1000), uint8(0), "k")
	f.Add(uint16(5000), uint16(12000), uint8(0), "k")
	f.Add(uint16(300), uint16(3000), uint8(1), "name")
	f.Add(uint16(300), uint16(3000), uint8(2), "")
	f.Add(uint16(0), uint16(0), uint8(3), "x")
	f.Fuzz(func(t *testing.T, keys, aliases uint16, shape uint8, key string) {
		var b strings.Builder
		switch shape % 3 {
		case 0: // distinct unknown keys
			b.WriteString("x: &a {")
			for i := range int(keys) {
				fmt.Fprintf(&b, "%q: 1, ", fmt.Sprintf("%s%d", key, i))
			}
			b.WriteString("}\nbackends: [")
		case 1: // one key, duplicated
			b.WriteString("x: &a {")
			for range int(keys) {
				fmt.Fprintf(&b, "%q: 1, ", key)
			}
			b.WriteString("}\nbackends: [")
		case 2: // empty entries
			b.WriteString("x: &e [")
			for range int(keys) {
				b.WriteString("~, ")
			}
			b.WriteString("]\nx2: &a {services: *e}\npools: [")
		}
		for range int(aliases) {
			b.WriteString("*a, ")
		}
		b.WriteString("]\n")
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := LoadBytes("fuzz.yaml", []byte(b.String()))
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 128<<20 {
			t.Fatalf("%d bytes of YAML allocated %d MB", b.Len(), alloc>>20)
		}
		if es, _ := AsErrors(err); len(es) > MaxErrors+1 {
			t.Fatalf("%d errors, want at most %d", len(es), MaxErrors+1)
		}
	})
}

// Many documents, each under the per-document limit, share one budget for the load: a
// file cannot add them up to minutes of work. (The load limit is lowered to 500,000 here
// to keep the test quick; the mechanism is the same.)
func TestManyDocumentsShareTheNodeBudget(t *testing.T) {
	defer func(n int) { maxLoadNodes = n }(maxLoadNodes)
	maxLoadNodes = 500_000
	var b strings.Builder
	for d := range 6 {
		fmt.Fprintf(&b, "---\nx: &b%d {name: b, url: 'http://b'}\nbackends: [", d)
		for range 50_000 { // 150,003 values (with the document, x and the list): under the document limit
			fmt.Fprintf(&b, "*b%d, ", d)
		}
		b.WriteString("]\n")
	}
	_, err := LoadBytes("docs.yaml", []byte(b.String()))
	es, _ := AsErrors(err)
	var stops []string
	for _, e := range es {
		if strings.Contains(e.Msg, "stopped reading") {
			stops = append(stops, e.Error())
		}
	}
	// 3 documents reach 450,009 values; the 4th passes 500,000 in its 16,663rd backend,
	// whose url is written in the anchor on line 11. The 5th and 6th are not read.
	want := "docs.yaml:11: backends[16662].url: the model expands to more than 500000 values (aliases included); stopped reading it; simplify it"
	if got := strings.Join(stops, "\n"); got != want {
		t.Errorf("stops:\n%s\nwant:\n%s", got, want)
	}
}

// A secret repeated through aliases is resolved once, and the values a load builds are
// bounded in size: a 32 KiB secret file aliased 30,000 times, or many distinct
// references to it, cost memory once, not 30,000 times.
func TestAliasedSecretsAreBounded(t *testing.T) {
	secrets := t.TempDir()
	writeFile(t, secrets+"/big", strings.Repeat("k", MaxSecretFileSize/2)+"\n")
	var b strings.Builder
	b.WriteString("backends: [{name: a, url: 'http://b', credentials: {header: &h {x-key: '${file:" + secrets + "/big}'}}}, ")
	for i := range 30_000 {
		fmt.Fprintf(&b, "{name: b%d, url: 'http://b', credentials: {header: *h}}, ", i)
	}
	b.WriteString("]\n")
	measure := func(data string) (uint64, error) {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := LoadBytes("secrets.yaml", []byte(data), WithSecretsDir(secrets))
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, err
	}
	alloc, err := measure(b.String())
	t.Logf("one secret, aliased: %d bytes of YAML, %d MB allocated in total", b.Len(), alloc>>20)
	if err != nil {
		t.Fatalf("%.500v", err)
	}
	if alloc > 256<<20 {
		t.Errorf("allocated %d MB, want at most 256", alloc>>20)
	}

	// Distinct references that read the same file: each value is new, so they count
	// against the load's secret budget.
	b.Reset()
	b.WriteString("backends: [")
	for i := range 2_000 {
		fmt.Fprintf(&b, "{name: b%d, url: 'http://b', credentials: {header: {x-key: '${file:%s/big}%d'}}}, ", i, secrets, i)
	}
	b.WriteString("]\n")
	alloc, err = measure(b.String())
	t.Logf("distinct references: %d bytes of YAML, %d MB allocated in total", b.Len(), alloc>>20)
	if alloc > 256<<20 {
		t.Errorf("allocated %d MB, want at most 256", alloc>>20)
	}
	if err == nil || !strings.Contains(err.Error(), "the model's secret values add up to more than 16 MiB") {
		t.Errorf("error: %.1000v", err)
	}
}
