package modelgen

import "github.com/poolpilot/poolpilot/model"

// Load generates the model for s and loads it through the real loader, so callers get
// a validated, defaulted *model.Model exactly as poolpilot would from disk.
func Load(s Spec) (*model.Model, error) {
	files, err := Files(s, 0)
	if err != nil {
		return nil, err
	}
	return model.LoadFiles(files)
}
