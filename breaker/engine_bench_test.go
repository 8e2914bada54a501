package breaker

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkRecord is one report into an engine that holds 100 backends, each reported by
// 1,000 nodes in 4 regions: such a fleet at the default interval sends 100,000 of these
// a second.
func BenchmarkRecord(b *testing.B) {
	for _, scope := range []Scope{ScopeFleet, ScopeRegion} {
		b.Run(string(scope), func(b *testing.B) {
			clk := &fakeClock{t: base}
			e := New(Config{Clock: clk.now})
			rules := map[string]Rule{}
			backends := make([]string, 100)
			for i := range backends {
				backends[i] = fmt.Sprint("backend-", i)
				rules[backends[i]] = countRule(1<<30, 15*time.Second, 30*time.Second, scope)
			}
			if err := e.SetRules(rules); err != nil {
				b.Fatal(err)
			}
			regions := []string{"swedencentral", "norwayeast", "westeurope", "northeurope"}
			nodes := make([]string, 1000)
			for i := range nodes {
				nodes[i] = fmt.Sprint("node-", i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if i%1000 == 0 {
					clk.t = clk.t.Add(time.Millisecond)
				}
				_, err := e.Record(Report{Node: nodes[(i/len(backends))%len(nodes)], Region: regions[i%len(regions)], Backend: backends[i%len(backends)],
					At: clk.t, Counts: Counts{Issued: 10, Succeeded: 9, Failed: 1}})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
