package translator

import (
	"fmt"
	"testing"

	"github.com/poolpilot/poolpilot/model"
)

func TestCodeSet(t *testing.T) {
	s := codesOf([]model.StatusRange{{Min: 502, Max: 504}, {Min: 429, Max: 429}, {Min: 500, Max: 500}, {Min: 503, Max: 0}, {Min: 599, Max: 599}})
	if got := fmt.Sprint(s.sorted()); got != "[429 500 502 503 504 599]" {
		t.Errorf("sorted = %s", got)
	}
	if got := describeCodes(s); got != "429, 500, 502–504, 599" {
		t.Errorf("describeCodes = %q", got)
	}
	if s.len() != 6 || s.empty() || !codesOf(nil).empty() {
		t.Errorf("len %d, empty %v", s.len(), s.empty())
	}
	if !s.has(429) || s.has(501) || s.has(-1) || s.has(1000) {
		t.Error("has")
	}
	if !s.hasAll(502, 504) || s.hasAll(500, 504) || s.only(502, 504) || !s.within(502, 504).only(502, 504) {
		t.Error("hasAll/only/within")
	}
	if got := describeCodes(s.without(500, 599)); got != "429" {
		t.Errorf("without = %q", got)
	}
	all := codesOf([]model.StatusRange{{Min: 100, Max: 599}})
	if all.len() != 500 || !all.hasAll(100, 599) || all.has(99) || all.has(600) || !all.only(100, 599) {
		t.Errorf("100–599: len %d", all.len())
	}
	if a, b := codesOf([]model.StatusRange{{Min: 503, Max: 504}, {Min: 502, Max: 502}}), codesOf([]model.StatusRange{{Min: 502, Max: 504}}); a != b {
		t.Error("equal sets must compare equal whatever their ranges' order (breakerOf relies on it)")
	}
}
