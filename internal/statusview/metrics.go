package statusview

import (
	"io"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/linkagogo/linkbackup/backup"
)

// gauge is one sample: a metric name, its HELP, label pairs (name, value, ...).
type gauge struct {
	name, help string
	labels     []string
	value      float64
}

// gauges_ collects gauges in order.
type gauges_ []gauge

func (g *gauges_) add(name, help string, labels []string, v int64) {
	*g = append(*g, gauge{name: name, help: help, labels: labels, value: float64(v)})
}

// collector exposes gauges through client_golang: it is unchecked (describes
// nothing), as its metrics depend on the report.
type collector []gauge

func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, g := range c {
		var names, values []string
		for i := 0; i+1 < len(g.labels); i += 2 {
			names, values = append(names, g.labels[i]), append(values, g.labels[i+1])
		}
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, g.help, names, nil), prometheus.GaugeValue, g.value, values...)
	}
}

// Registry returns a registry holding the report's metrics (and the weekly email's,
// m may be nil): `serve` answers /metrics from it, the textfile is its text.
func Registry(r *backup.StatusReport, m *Mail) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	g := gauges_(gauges(r))
	mailGauges(&g, m)
	reg.MustRegister(collector(g))
	return reg
}

// WritePrometheusMail writes the report's metrics, and the weekly email's (m may be
// nil), in the Prometheus text format, as client_golang exposes them (families sorted
// by name). The command writes it to the textfile atomically; client_golang's
// WriteToTextfile renames without an fsync, so it is not used.
func WritePrometheusMail(w io.Writer, r *backup.StatusReport, m *Mail) error {
	mfs, err := Registry(r, m).Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return nil
}
