package model

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// durationWant says what a duration may look like, for error messages.
const durationWant = "want ISO-8601 like PT30S or Go like 30s"

// ParseDuration parses an ISO-8601 duration as APIM writes it ("PT30S", "PT1M30S",
// "PT0.5S", "P1DT2H") or a Go duration ("30s", "1m30s", "500ms"). Negative durations
// are rejected. Years and months are not accepted: they have no fixed length.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "":
		return 0, fmt.Errorf("%q is not a duration (%s)", s, durationWant)
	case t[0] == '-':
		return 0, fmt.Errorf("%q is negative; durations must be 0 or more", s)
	case t[0] == 'P' || t[0] == 'p':
		d, err := parseISODuration(strings.ToUpper(t))
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (%s): %v", s, durationWant, err)
		}
		return d, nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (%s)", s, durationWant)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; durations must be 0 or more", s)
	}
	return d, nil
}

// parseISODuration parses "P[nW][nD][T[nH][nM][nS]]", each n a decimal number that may
// have a fraction. s is upper case and starts with "P".
func parseISODuration(s string) (time.Duration, error) {
	rest := s[1:]
	if rest == "" {
		return 0, fmt.Errorf("no components after P")
	}
	dateUnits := []isoUnit{{'W', 7 * 24 * time.Hour}, {'D', 24 * time.Hour}}
	timeUnits := []isoUnit{{'H', time.Hour}, {'M', time.Minute}, {'S', time.Second}}
	var total time.Duration
	units := dateUnits
	inTime := false
	next := 0 // units must come in order; next is the first still allowed
	sawAny := false
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("T appears twice") //nolint:staticcheck // T is the ISO 8601 time designator, upper case
			}
			inTime, units, next = true, timeUnits, 0
			rest = rest[1:]
			if rest == "" {
				return 0, fmt.Errorf("no components after T")
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == ',') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("expected a number at %q", rest)
		}
		if i == len(rest) {
			return 0, fmt.Errorf("number %q has no unit", rest)
		}
		num, des := rest[:i], rest[i]
		rest = rest[i+1:]
		k := -1
		for j := next; j < len(units); j++ {
			if units[j].des == des {
				k = j
				break
			}
		}
		if k < 0 {
			switch {
			case !inTime && (des == 'Y' || des == 'M'):
				return 0, fmt.Errorf("years and months have no fixed length; use days (D)")
			case !inTime && (des == 'H' || des == 'S'):
				return 0, fmt.Errorf("hours, minutes and seconds come after T")
			default:
				return 0, fmt.Errorf("unit %q is out of place", string(des))
			}
		}
		next = k + 1
		d, err := isoComponent(num, units[k].unit)
		if err != nil {
			return 0, err
		}
		if total > math.MaxInt64-d {
			return 0, fmt.Errorf("too large")
		}
		total += d
		sawAny = true
	}
	if !sawAny {
		return 0, fmt.Errorf("no components")
	}
	return total, nil
}

type isoUnit struct {
	des  byte
	unit time.Duration
}

// isoComponent converts "12" or "0.5" (ISO also allows "0,5") of unit to a duration.
func isoComponent(num string, unit time.Duration) (time.Duration, error) {
	num = strings.Replace(num, ",", ".", 1)
	intPart, frac, hasFrac := strings.Cut(num, ".")
	if intPart == "" || strings.ContainsAny(frac, ".,") || (hasFrac && frac == "") {
		return 0, fmt.Errorf("%q is not a number", num)
	}
	var n int64
	for _, c := range intPart {
		if n > (math.MaxInt64-9)/10 {
			return 0, fmt.Errorf("too large")
		}
		n = n*10 + int64(c-'0')
	}
	if n > math.MaxInt64/int64(unit) {
		return 0, fmt.Errorf("too large")
	}
	d := time.Duration(n) * unit
	if frac != "" {
		if len(frac) > 9 {
			frac = frac[:9] // nanosecond precision is the most a Duration holds
		}
		var f float64
		scale := 1.0
		for _, c := range frac {
			f = f*10 + float64(c-'0')
			scale *= 10
		}
		add := time.Duration(math.Round(f / scale * float64(unit)))
		if d > math.MaxInt64-add {
			return 0, fmt.Errorf("too large")
		}
		d += add
	}
	return d, nil
}

// MarshalYAML writes the duration in Go form ("30s"), which Load reads back.
func (d Duration) MarshalYAML() (any, error) { return d.Duration.String(), nil }

// MarshalText writes the duration in Go form, e.g. for JSON status output.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText reads either duration form (see ParseDuration).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
