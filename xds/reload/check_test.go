package reload_test

import (
	"errors"
	"testing"
	"time"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
	"github.com/poolpilot/poolpilot/xds"
	"github.com/poolpilot/poolpilot/xds/internal/adstest"
	"github.com/poolpilot/poolpilot/xds/reload"
)

// TestReloadCheckRefusal: a model the Check hook refuses (serve's credentials guard) is
// not applied: the reload fails with the hook's error and the served version stays.
func TestReloadCheckRefusal(t *testing.T) {
	s := xds.New(xds.Options{Logger: adstest.Logger(t), Translate: translator.Translate})
	defer s.Close()
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
	lookup := func(k string) (string, bool) { v, ok := adstest.Env[k]; return v, ok }
	load := func(string) (*model.Model, error) {
		variant++
		return model.LoadBytes("model.yaml", []byte(adstest.Model(8000+variant, false)), model.WithLookupEnv(lookup))
	}
	r := reload.ForServer("model.yaml", s, reload.Options{Load: load, Check: check, Logger: adstest.Logger(t),
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
