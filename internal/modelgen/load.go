package modelgen

import "github.com/poolpilot/poolpilot/model"

// ModelFiles returns Files(s, poolsPerFile) in the loader's form.
func ModelFiles(s Spec, poolsPerFile int) ([]model.File, error) {
	files, err := Files(s, poolsPerFile)
	if err != nil {
		return nil, err
	}
	out := make([]model.File, len(files))
	for i, f := range files {
		out[i] = model.File{Name: f.Name, Data: f.Data}
	}
	return out, nil
}

// Load generates the model for s and loads it through the real loader, so callers get
// a validated, defaulted *model.Model exactly as poolpilot would from disk.
func Load(s Spec) (*model.Model, error) {
	files, err := ModelFiles(s, 0)
	if err != nil {
		return nil, err
	}
	return model.LoadFiles(files)
}
