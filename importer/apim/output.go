package apim

// The imported model as written: the model's field names, with empty fields left out
// so the file reads like a hand-written one.

type outModel struct {
	Backends  []outBackend  `yaml:"backends,omitempty"`
	Pools     []outPool     `yaml:"pools,omitempty"`
	APIs      []outAPI      `yaml:"apis,omitempty"`
	Listeners []outListener `yaml:"listeners,omitempty"`
}

type outBackend struct {
	Name           string      `yaml:"name"`
	URL            string      `yaml:"url"`
	Region         string      `yaml:"region,omitempty"`
	Credentials    *outCreds   `yaml:"credentials,omitempty"`
	CircuitBreaker *outBreaker `yaml:"circuitBreaker,omitempty"`
}

type outCreds struct {
	Header map[string]string `yaml:"header"`
}

type outBreaker struct {
	Rules []outRule `yaml:"rules"`
}

type outRule struct {
	Name             string           `yaml:"name,omitempty"`
	TripDuration     string           `yaml:"tripDuration"`
	AcceptRetryAfter bool             `yaml:"acceptRetryAfter,omitempty"`
	FailureCondition outFailureCondit `yaml:"failureCondition"`
}

type outFailureCondit struct {
	Count            int        `yaml:"count,omitempty"`
	Percentage       int        `yaml:"percentage,omitempty"`
	Interval         string     `yaml:"interval"`
	ErrorReasons     []string   `yaml:"errorReasons,omitempty,flow"`
	StatusCodeRanges []outRange `yaml:"statusCodeRanges,omitempty,flow"`
}

type outRange struct {
	Min int `yaml:"min"`
	Max int `yaml:"max"`
}

type outPool struct {
	Name              string      `yaml:"name"`
	PreferLocalRegion bool        `yaml:"preferLocalRegion,omitempty"`
	Services          []outMember `yaml:"services"`
}

type outMember struct {
	Backend  string `yaml:"backend"`
	Priority int    `yaml:"priority"`
	Weight   *int   `yaml:"weight,omitempty"`
}

type outAPI struct {
	Name          string    `yaml:"name"`
	PathPrefix    string    `yaml:"pathPrefix"`
	Backend       string    `yaml:"backend"`
	RewritePrefix string    `yaml:"rewritePrefix,omitempty"`
	Timeout       string    `yaml:"timeout,omitempty"`
	Retry         *outRetry `yaml:"retry,omitempty"`
}

type outRetry struct {
	Count             int        `yaml:"count"`
	Interval          string     `yaml:"interval,omitempty"`
	MaxInterval       string     `yaml:"maxInterval,omitempty"`
	Delta             string     `yaml:"delta,omitempty"`
	FirstFastRetry    bool       `yaml:"firstFastRetry,omitempty"`
	PerTryTimeout     string     `yaml:"perTryTimeout,omitempty"`
	StatusCodeRanges  []outRange `yaml:"statusCodeRanges,omitempty,flow"`
	ErrorReasons      []string   `yaml:"errorReasons,omitempty,flow"`
	BufferRequestBody bool       `yaml:"bufferRequestBody,omitempty"`
}

type outListener struct {
	Name string   `yaml:"name"`
	Port int      `yaml:"port"`
	APIs []string `yaml:"apis,flow"`
}
