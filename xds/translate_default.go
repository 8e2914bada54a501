package xds

import (
	"errors"

	"github.com/poolpilot/poolpilot/model"
	"github.com/poolpilot/poolpilot/translator"
)

// defaultTranslate stands in for translator.Translate until that lands in translator/;
// it fails every Apply rather than serve an empty configuration.
func defaultTranslate(*model.Model, translator.Group) (*translator.Resources, error) {
	return nil, errors.New("translator.Translate is not available yet")
}
