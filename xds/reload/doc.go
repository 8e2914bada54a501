// Package reload keeps the served model current: it loads the model from disk and applies
// it to the ADS core (xds.Server.Apply), keeping the last good model when a load, the
// serve check or the apply fails; it refuses a reload that would remove most of what is
// served (the shrink guard); and it watches the model's directory (fsnotify, debounced)
// and SIGHUP to trigger reloads. A file reload does its load, checks and
// xds.Server.Prepare while the watch's quiet period runs, and only Commits at its end.
// Each attempt is reported to an Observer (admin.Metrics).
package reload
