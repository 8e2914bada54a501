package xds

import (
	"errors"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
)

// TestReloadCheckRefusal: a model the Check hook refuses (serve's credentials guard) is
// not applied: the reload fails with the hook's error and the served version stays.
func TestReloadCheckRefusal(t *testing.T) {
	s, _ := startServer(t, Options{})
	refuse := errors.New("the model has backend credentials and the xDS port is open")
	calls := 0
	check := func(*model.Model) error {
		calls++
		if calls > 1 {
			return refuse
		}
		return nil
	}
	variant := 0
	load := func(string) (*model.Model, error) { variant++; return testModel(t, variant), nil }
	r := NewServerReloader("model.yaml", s, ReloaderOptions{Load: load, Check: check, Logger: testLogger(t),
		Now: func() time.Time { return time.Unix(0, 0) }})
	if res := r.Reload("startup"); !res.OK {
		t.Fatalf("first reload %+v; want applied", res)
	}
	version := s.Version()
	res := r.Reload("file")
	if res.OK || len(res.Errors) != 1 || res.Errors[0] != refuse.Error() || s.Version() != version {
		t.Errorf("reload %+v, version %s (was %s); want refused by the check, version unchanged", res, s.Version(), version)
	}
}
