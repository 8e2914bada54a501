// Package compose checks the docker-compose demo (docker-compose.yml, Dockerfile,
// .dockerignore, examples/failover/compose and examples/failover/envoy) without a Docker
// engine: the compose file passes `docker-compose config` and points at files that exist,
// the committed Envoy bootstraps parse strictly, validate and match what
// `poolpilot bootstrap` generates today, the build context keeps every file the images
// need, and the Envoy configuration poolpilot emits for the demo names only extensions
// that the pinned Envoy image has.
//
// Regenerate the bootstraps with: go test ./e2e/compose -run TestBootstrapDrift -update
package compose
