// Package editor checks what an editor shows for a model file: the YAML language server
// (the one VS Code's YAML extension and LSP editors run), pinned in e2e/node, reads
// docs/model.schema.json from the example's modeline and gives completion, hover and
// errors. It needs node and `npm ci --prefix e2e/node`; without them the test skips and
// says so, except under CI=true, where it fails.
package editor
