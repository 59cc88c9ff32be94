package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/postern/postern/abi"
)

// PluginMetricPrefix starts the name of every metric a plugin declared
// (ABI 1.1 metric_declare): a plugin's "lookup_seconds" is exported as
// postern_plugin_metric_lookup_seconds{plugin="route-lookup"}. The prefix
// keeps plugin names from colliding with Postern's own series.
const PluginMetricPrefix = Namespace + "_plugin_metric_"

// pluginMetrics exports the metrics plugins declared. Their names are
// known only at scrape time, so it is an unchecked collector: Describe
// sends nothing.
type pluginMetrics struct{ c *Collector }

func (pm *pluginMetrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends every declared metric of every configured plugin. Two
// plugins may declare the same name: they are one family, told apart by
// the plugin label, and the first plugin's help text is the family's
// (Prometheus allows one per family). A later plugin that declares the
// name with another kind is left out: its series is absent.
func (pm *pluginMetrics) Collect(ch chan<- prometheus.Metric) {
	src := pm.c.src.Load()
	if src == nil || src.Plugins == nil {
		return
	}
	type family struct {
		kind abi.MetricKind
		desc *prometheus.Desc
	}
	fams := map[string]family{}
	for _, p := range src.Plugins.Plugins() {
		for _, m := range p.Metrics() {
			name := PluginMetricPrefix + m.Name
			fam, ok := fams[name]
			if !ok {
				fam = family{m.Kind, prometheus.NewDesc(name, m.Help, []string{"plugin"}, nil)}
				fams[name] = fam
			} else if fam.kind != m.Kind {
				continue
			}
			switch m.Kind {
			case abi.MetricGauge:
				ch <- prometheus.MustNewConstMetric(fam.desc, prometheus.GaugeValue, m.Value(), p.Name())
			case abi.MetricHistogram:
				count, sum, cum := m.Histogram()
				buckets := make(map[float64]uint64, len(cum))
				for i, le := range m.Bounds {
					buckets[le] = cum[i]
				}
				ch <- prometheus.MustNewConstHistogram(fam.desc, count, sum, buckets, p.Name())
			}
		}
	}
}
