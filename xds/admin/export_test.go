package admin

// Internals the external tests (package admin_test) check.
const BreakerHTMLRows = adminBreakerHTMLRows

var NewBreakerCollector = newBreakerCollector
