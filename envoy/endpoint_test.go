package envoy

import "testing"

func TestLoadAssignment(t *testing.T) {
	la := LoadAssignment("pool", []LocalityGroup{
		{Region: "swedencentral", SubZone: "a", Priority: 0, Weight: 2, Hosts: []Host{{
			Address: "10.0.0.1", Port: 8080, Hostname: "a.example",
			Metadata: map[string]map[string]string{"poolpilot": {"x-key": "v"}},
		}}},
		{Region: "norwayeast", SubZone: "b", Priority: 1, Weight: 1, Hosts: []Host{{Address: "10.0.0.2", Port: 8080}}},
	}, 100000)
	if err := Validate(la); err != nil {
		t.Fatal(err)
	}
	if got := la.GetPolicy().GetOverprovisioningFactor().GetValue(); got != 100000 {
		t.Errorf("overprovisioning_factor = %d", got)
	}
	e0 := la.GetEndpoints()[0]
	if e0.GetLocality().GetRegion() != "swedencentral" || e0.GetLoadBalancingWeight().GetValue() != 2 || e0.GetPriority() != 0 {
		t.Errorf("locality 0 = %v", e0)
	}
	ep := e0.GetLbEndpoints()[0]
	if ep.GetEndpoint().GetHostname() != "a.example" || ep.GetEndpoint().GetAddress().GetSocketAddress().GetPortValue() != 8080 {
		t.Errorf("endpoint = %v", ep)
	}
	if v := ep.GetMetadata().GetFilterMetadata()["poolpilot"].GetFields()["x-key"].GetStringValue(); v != "v" {
		t.Errorf("metadata = %v", ep.GetMetadata())
	}
	if la.GetEndpoints()[1].GetPriority() != 1 || la.GetEndpoints()[1].GetLbEndpoints()[0].GetMetadata() != nil {
		t.Errorf("locality 1 = %v", la.GetEndpoints()[1])
	}
}
