package model

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	valid := map[string]time.Duration{
		"PT30S":           30 * time.Second,
		"PT1M30S":         90 * time.Second,
		"PT0.5S":          500 * time.Millisecond,
		"PT0,25S":         250 * time.Millisecond,
		"PT1.5M":          90 * time.Second,
		"PT2H":            2 * time.Hour,
		"P1D":             24 * time.Hour,
		"P1W":             7 * 24 * time.Hour,
		"P1DT1H1M1S":      25*time.Hour + time.Minute + time.Second,
		"PT0S":            0,
		"pt15s":           15 * time.Second,
		"PT0.123456789S":  123456789 * time.Nanosecond,
		"PT1.0000000001S": time.Second, // beyond nanoseconds is dropped
		"30s":             30 * time.Second,
		"1m30s":           90 * time.Second,
		"500ms":           500 * time.Millisecond,
		"0":               0,
		" PT1S ":          time.Second,
	}
	for in, want := range valid {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	invalid := map[string]string{
		"":                        `"" is not a duration (want ISO-8601 like PT30S or Go like 30s)`,
		"PT3":                     `"PT3" is not a duration (want ISO-8601 like PT30S or Go like 30s): number "3" has no unit`,
		"P":                       `"P" is not a duration (want ISO-8601 like PT30S or Go like 30s): no components after P`,
		"PT":                      `"PT" is not a duration (want ISO-8601 like PT30S or Go like 30s): no components after T`,
		"P1DT":                    `"P1DT" is not a duration (want ISO-8601 like PT30S or Go like 30s): no components after T`,
		"P1M":                     `"P1M" is not a duration (want ISO-8601 like PT30S or Go like 30s): years and months have no fixed length; use days (D)`,
		"P1Y":                     `"P1Y" is not a duration (want ISO-8601 like PT30S or Go like 30s): years and months have no fixed length; use days (D)`,
		"P30S":                    `"P30S" is not a duration (want ISO-8601 like PT30S or Go like 30s): hours, minutes and seconds come after T`,
		"PT1S1M":                  `"PT1S1M" is not a duration (want ISO-8601 like PT30S or Go like 30s): unit "M" is out of place`,
		"PT1S1S":                  `"PT1S1S" is not a duration (want ISO-8601 like PT30S or Go like 30s): unit "S" is out of place`,
		"PTT1S":                   `"PTT1S" is not a duration (want ISO-8601 like PT30S or Go like 30s): T appears twice`,
		"PTS":                     `"PTS" is not a duration (want ISO-8601 like PT30S or Go like 30s): expected a number at "S"`,
		"PT.5S":                   `"PT.5S" is not a duration (want ISO-8601 like PT30S or Go like 30s): ".5" is not a number`,
		"PT1.S":                   `"PT1.S" is not a duration (want ISO-8601 like PT30S or Go like 30s): "1." is not a number`,
		"PT1.2.3S":                `"PT1.2.3S" is not a duration (want ISO-8601 like PT30S or Go like 30s): "1.2.3" is not a number`,
		"PT99999999999999999999S": `"PT99999999999999999999S" is not a duration (want ISO-8601 like PT30S or Go like 30s): too large`,
		"P999999999D":             `"P999999999D" is not a duration (want ISO-8601 like PT30S or Go like 30s): too large`,
		"-PT1S":                   `"-PT1S" is negative; durations must be 0 or more`,
		"-1s":                     `"-1s" is negative; durations must be 0 or more`,
		"30":                      `"30" is not a duration (want ISO-8601 like PT30S or Go like 30s)`,
		"thirty":                  `"thirty" is not a duration (want ISO-8601 like PT30S or Go like 30s)`,
	}
	for in, want := range invalid {
		_, err := ParseDuration(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q) error = %v; want %s", in, err, want)
		}
	}
}

func TestDurationMarshal(t *testing.T) {
	out, err := yaml.Marshal(struct{ D Duration }{Duration{90 * time.Second}})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("yaml = %q, %v", out, err)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("PT0.5S")); err != nil || d.Duration != 500*time.Millisecond {
		t.Errorf("UnmarshalText = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("x")); err == nil {
		t.Error("UnmarshalText accepted x")
	}
}
