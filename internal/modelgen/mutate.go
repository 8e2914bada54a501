package modelgen

import (
	"bytes"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// ReversePriorities returns the model text data with the member priorities of the named
// pool reversed (the first member gets the last one's priority and so on); "" picks the
// first pool. It works on any model file, not only generated ones, and keeps comments.
//
// With at least three members every region's order changes, so every node group gets a
// new EDS version: a one-pool change that reaches the whole fleet.
func ReversePriorities(data []byte, pool string) (out []byte, name string, err error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, "", fmt.Errorf("modelgen: parse model: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, "", fmt.Errorf("modelgen: model is empty")
	}
	pools := mapValue(doc.Content[0], "pools")
	if pools == nil || pools.Kind != yaml.SequenceNode || len(pools.Content) == 0 {
		return nil, "", fmt.Errorf("modelgen: model has no pools")
	}
	var target *yaml.Node
	for _, p := range pools.Content {
		n := mapValue(p, "name")
		if n != nil && (pool == "" || n.Value == pool) {
			target, name = p, n.Value
			break
		}
	}
	if target == nil {
		return nil, "", fmt.Errorf("modelgen: pool %q not found", pool)
	}
	services := mapValue(target, "services")
	if services == nil || services.Kind != yaml.SequenceNode {
		return nil, "", fmt.Errorf("modelgen: pool %q has no services", name)
	}
	prios := make([]*yaml.Node, 0, len(services.Content))
	for _, m := range services.Content {
		pn := mapValue(m, "priority")
		if pn == nil {
			// An unset priority is 0 (the default): write it so it can be swapped.
			pn = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(0)}
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "priority"}, pn)
		}
		prios = append(prios, pn)
	}
	if len(prios) < 2 {
		return nil, "", fmt.Errorf("modelgen: pool %q has %d member(s): nothing to reverse", name, len(prios))
	}
	for i, j := 0, len(prios)-1; i < j; i, j = i+1, j-1 {
		prios[i].Value, prios[j].Value = prios[j].Value, prios[i].Value
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, "", fmt.Errorf("modelgen: encode model: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, "", fmt.Errorf("modelgen: encode model: %w", err)
	}
	return buf.Bytes(), name, nil
}

// mapValue returns the value node of key in mapping node m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
