package breaker

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// FuzzRecord plays arbitrary report sequences (backend, region, node, clock step, report
// age, counts) into an engine: nothing panics, refused reports say why, and State stays
// sorted, without duplicates, and holds only trips open now.
func FuzzRecord(f *testing.F) {
	f.Add([]byte{0, 1, 2, 10, 0, 3, 1, 1, 2, 10, 0, 3})
	f.Add([]byte{2, 0, 0, 255, 255, 255, 1, 0, 1, 0, 9, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		clk := &fakeClock{t: base}
		e := New(Config{Clock: clk.now, MaxRegions: 3, MaxNodes: 4})
		if err := e.SetRules(map[string]Rule{
			"a": countRule(3, 2*time.Second, 3*time.Second, ScopeFleet),
			"b": countRule(2, 5*time.Second, time.Second, ScopeRegion),
			"c": pctRule(50, time.Second, 2*time.Second),
		}); err != nil {
			t.Fatal(err)
		}
		backends := []string{"a", "b", "c", "unknown"}
		regions := []string{"", "r1", "r2", "r3"}
		for len(data) >= 6 {
			step := data[:6]
			data = data[6:]
			clk.t = clk.t.Add(time.Duration(step[3]) * 10 * time.Millisecond)
			fail := uint64(binary.BigEndian.Uint16([]byte{step[5], step[4]}))
			if step[5] == 255 {
				fail = ^uint64(0)
			}
			_, err := e.Record(Report{
				Backend: backends[step[0]%4], Region: regions[step[1]%4], Node: string('n' + rune(step[2]%8)),
				At: clk.t.Add(-time.Duration(step[4]) * 20 * time.Millisecond), Span: time.Duration(step[2]) * 10 * time.Millisecond,
				Counts: Counts{Succeeded: uint64(step[4]), Failed: fail},
			})
			if err != nil && !errors.Is(err, ErrUnknownBackend) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrAbsurd) && !errors.Is(err, ErrTooManyRegions) {
				t.Fatalf("refused without a known reason: %v", err)
			}
			st := e.State()
			for i, o := range st.Open {
				if !clk.t.Before(o.OpenUntil) {
					t.Fatalf("closed trip in State: %+v at %s", o, clk.t)
				}
				if i > 0 && !st.Open[i-1].less(o) {
					t.Fatalf("State not sorted or has duplicates: %+v", st.Open)
				}
			}
			if at, ok := e.NextChange(); ok != (len(st.Open) > 0) || (ok && !at.After(clk.t)) {
				t.Fatalf("NextChange %v %v with %d open", at, ok, len(st.Open))
			}
		}
		_ = e.Stats()
		_ = e.Trips()
	})
}
