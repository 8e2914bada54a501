package xds

import "github.com/poolpilot/poolpilot/translator"

// defaultTranslate is what a Server uses when Options.Translate is nil.
var defaultTranslate TranslateFunc = translator.Translate
