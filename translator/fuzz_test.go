package translator

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/poolpilot/poolpilot/model"
)

// FuzzTranslate feeds every model the loader accepts to Translate for several groups.
// Translate must never panic, and a model Load accepts must translate without error:
// an error here is a case the loader lets through but the translator cannot serve.
func FuzzTranslate(f *testing.F) {
	ins, err := filepath.Glob("testdata/in/*.yaml")
	if err != nil || len(ins) == 0 {
		f.Fatalf("no seeds: %v", err)
	}
	for _, in := range ins {
		data, err := os.ReadFile(in)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	noEnv := model.WithLookupEnv(func(string) (string, bool) { return "", false })
	noFiles := model.WithReadFile(func(string) ([]byte, error) { return []byte("secret"), nil })
	groups := []Group{
		{Region: "swedencentral", Client: Envoy},
		{Region: "norwayeast", Client: GRPC},
		{Region: "", Client: Envoy, LegacyEnvoy: true},
		{Region: "", Client: GRPC},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := model.LoadBytes("fuzz.yaml", data, noEnv, noFiles)
		if err != nil {
			return
		}
		for _, g := range groups {
			if _, err := Translate(m, g); err != nil {
				t.Fatalf("Translate(%s) of a model Load accepts: %v", g, err)
			}
		}
	})
}
