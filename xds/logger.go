package xds

import (
	"context"
	"fmt"
	"log/slog"

	cplog "github.com/envoyproxy/go-control-plane/pkg/log"
)

// cacheLogger adapts slog to go-control-plane's printf-style logger.
// The cache logs every watch it opens at "info", which is per-request noise for an
// operator, so info is demoted to debug; warnings and errors keep their level.
type cacheLogger struct{ l *slog.Logger }

// maxCacheLogLen bounds one go-control-plane log message.
const maxCacheLogLen = 2048

var _ cplog.Logger = cacheLogger{}

func (c cacheLogger) logf(level slog.Level, format string, args []any) {
	if !c.l.Enabled(context.Background(), level) {
		return
	}
	// Clipped: some messages quote a client's request (its resource names).
	c.l.Log(context.Background(), level, clipText(fmt.Sprintf(format, args...), maxCacheLogLen), "component", "go-control-plane")
}

func (c cacheLogger) Debugf(format string, args ...any) { c.logf(slog.LevelDebug, format, args) }
func (c cacheLogger) Infof(format string, args ...any)  { c.logf(slog.LevelDebug, format, args) }
func (c cacheLogger) Warnf(format string, args ...any)  { c.logf(slog.LevelWarn, format, args) }
func (c cacheLogger) Errorf(format string, args ...any) { c.logf(slog.LevelError, format, args) }
