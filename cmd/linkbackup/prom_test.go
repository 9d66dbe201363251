package main

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// promGauge parses text in the Prometheus exposition format (the ecosystem's parser)
// and returns the gauge name{labels}; ok false when it is absent.
func promGauge(t *testing.T, text, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not the Prometheus text format: %v\n%s", err, text)
	}
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	if f.GetType() != dto.MetricType_GAUGE || f.GetHelp() == "" {
		t.Fatalf("%s: type %v, help %q", name, f.GetType(), f.GetHelp())
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}
