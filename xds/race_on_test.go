//go:build race

package xds_test

// raceEnabled: the race detector's shadow memory multiplies RSS (5–10×, per Go's race
// detector documentation), so memory bounds are checked only without it.
const raceEnabled = true
