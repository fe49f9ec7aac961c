// Package metrics exports a service's Prometheus metrics: what its use cases
// do (domain.Metrics), its HTTP requests, its poisoned messages, the totals of
// what it holds, its consumer groups' lag, and Watermill's router, publisher
// and subscriber series.
// Every series carries the label service="zeros" or service="ones", and
// instance: the replica that exported it (BAUM_INSTANCE). A Prometheus that
// scrapes it keeps that label only with honor_labels: true (without it, the
// target's own instance="host:port" wins and ours becomes
// exported_instance), as deploy/prometheus/prometheus.yml sets.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/messages"
)

// Namespace starts every BAUM metric name.
const Namespace = "baum"

// Registry holds one service's metrics.
type Registry struct {
	registry *prometheus.Registry
	wrapped  prometheus.Registerer

	bytesCounted   prometheus.Counter
	placements     *prometheus.CounterVec
	filesStored    prometheus.Counter
	bytesStored    prometheus.Counter
	filesDeleted   prometheus.Counter
	bytesDeleted   prometheus.Counter
	uploadFailures *prometheus.CounterVec
	uploads        *prometheus.CounterVec
	uploadBytes    prometheus.Counter
	poisoned       *prometheus.CounterVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
}

// New returns a Registry for replica instance of service self, with Go
// runtime and process metrics.
func New(self messages.Service, instance string) *Registry {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"service": string(self), "instance": instance}
	r := &Registry{registry: reg, wrapped: prometheus.WrapRegistererWith(labels, reg)}
	f := func(c prometheus.Collector) { r.wrapped.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.bytesCounted = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "bits_counted_bytes_total",
		Help: "Bytes staged, hashed and bit-counted."})
	r.placements = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "placements_total",
		Help: "Placement decisions seen by this service, by outcome: zeros, ones or both."}, []string{"outcome"})
	r.filesStored = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "files_stored_total",
		Help: "Files this service committed to its storage."})
	r.bytesStored = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "stored_bytes_total",
		Help: "Bytes of the files this service committed to its storage."})
	r.filesDeleted = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "files_deleted_total",
		Help: "Files this service deleted."})
	r.bytesDeleted = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "deleted_bytes_total",
		Help: "Bytes of the files this service deleted."})
	r.uploadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "upload_failures_total",
		Help: "Uploads that failed, by reason."}, []string{"reason"})
	r.uploads = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "uploads_total",
		Help: "Uploads received over HTTP by this service, by result: accepted (all chunks on Kafka) or rejected."}, []string{"result"})
	r.uploadBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "upload_bytes_total",
		Help: "Bytes of the uploads this service accepted over HTTP."})
	r.poisoned = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "poisoned_messages_total",
		Help: "Messages sent to the poison topic, by the topic and handler they failed in."}, []string{"topic", "handler"})
	r.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP requests, by route, method and status."}, []string{"route", "method", "status"})
	r.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
		Help: "HTTP request latency, by route, method and status.", Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"route", "method", "status"})
	for _, c := range []prometheus.Collector{r.bytesCounted, r.placements, r.filesStored, r.bytesStored, r.filesDeleted,
		r.bytesDeleted, r.uploadFailures, r.uploads, r.uploadBytes, r.poisoned, r.httpRequests, r.httpDuration} {
		f(c)
	}
	for _, outcome := range []string{"zeros", "ones", "both"} {
		r.placements.WithLabelValues(outcome)
	}
	for _, result := range []string{"accepted", "rejected"} {
		r.uploads.WithLabelValues(result)
	}
	// Every known failure reason is exported from the start, at zero, so
	// that rate() and alerts see the first failure.
	for _, reason := range messages.FailureReasons() {
		r.uploadFailures.WithLabelValues(reason)
	}
	return r
}

// TotalsFunc reads what a service holds.
type TotalsFunc func(ctx context.Context) (domain.Totals, error)

// WatchTotals exports baum_stored_files and baum_stored_bytes, read from
// the totals read model at each scrape.
func (r *Registry) WatchTotals(totals TotalsFunc) {
	r.wrapped.MustRegister(&totalsCollector{totals: totals,
		files: prometheus.NewDesc(Namespace+"_stored_files", "Files this service holds now.", nil, nil),
		bytes: prometheus.NewDesc(Namespace+"_stored_bytes", "Bytes of the files this service holds now.", nil, nil)})
}

type totalsCollector struct {
	totals       TotalsFunc
	files, bytes *prometheus.Desc
}

func (c *totalsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.files; ch <- c.bytes }

func (c *totalsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t, err := c.totals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.files, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.files, prometheus.GaugeValue, float64(t.Count))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(t.TotalSize))
}

// LagFunc reads how far a service's consumer groups are behind.
type LagFunc func(ctx context.Context) ([]kafka.PartitionLag, error)

// WatchLag exports baum_consumer_lag{group,topic,partition}: the messages
// each consumer group of the service has yet to commit on each partition
// (the high-water mark less the committed offset), read from Kafka at
// each scrape. While Kafka cannot be asked, the series are left out (the
// rest of the scrape still works).
func (r *Registry) WatchLag(lag LagFunc) {
	r.wrapped.MustRegister(&lagCollector{lag: lag, desc: prometheus.NewDesc(Namespace+"_consumer_lag",
		"Messages a consumer group of this service has not committed yet, by partition: the high-water mark less the committed offset.",
		[]string{"group", "topic", "partition"}, nil)})
}

type lagCollector struct {
	lag  LagFunc
	desc *prometheus.Desc
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lag, err := c.lag(ctx)
	if err != nil {
		return
	}
	for _, l := range lag {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(l.Lag), l.Group, l.Topic, strconv.Itoa(int(l.Partition)))
	}
}

// WatchSyncs exports baum_storage_syncs_total, the fsync calls of the
// service's storage (files and directories), read from syncs at each scrape.
func (r *Registry) WatchSyncs(syncs func() int64) {
	r.wrapped.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: Namespace, Name: "storage_syncs_total",
		Help: "fsync calls of this service's storage, files and directories."}, func() float64 { return float64(syncs()) }))
}

// Watermill adds the router, publisher and subscriber metrics of Watermill
// (baum_watermill_*). Call it before the router runs.
func (r *Registry) Watermill() wmetrics.PrometheusMetricsBuilder {
	return wmetrics.NewPrometheusMetricsBuilder(r.wrapped, Namespace, "watermill")
}

// Handler serves the metrics (GET /metrics).
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.registry, promhttp.HandlerOpts{})
}

// BytesCounted implements domain.Metrics.
func (r *Registry) BytesCounted(n int) { r.bytesCounted.Add(float64(n)) }

// PlacementDecided implements domain.Metrics.
func (r *Registry) PlacementDecided(keepers []messages.Service) {
	outcome := "both"
	if len(keepers) == 1 {
		outcome = string(keepers[0])
	}
	r.placements.WithLabelValues(outcome).Inc()
}

// FileStored implements domain.Metrics.
func (r *Registry) FileStored(size int64) {
	r.filesStored.Inc()
	r.bytesStored.Add(float64(size))
}

// FileDeleted implements domain.Metrics.
func (r *Registry) FileDeleted(size int64) {
	r.filesDeleted.Inc()
	r.bytesDeleted.Add(float64(size))
}

// UploadFailed implements domain.Metrics.
func (r *Registry) UploadFailed(reason string) { r.uploadFailures.WithLabelValues(reason).Inc() }

// UploadAccepted counts an upload accepted over HTTP.
func (r *Registry) UploadAccepted(size int64) {
	r.uploads.WithLabelValues("accepted").Inc()
	r.uploadBytes.Add(float64(size))
}

// UploadRejected counts an upload refused or cut off over HTTP.
func (r *Registry) UploadRejected() { r.uploads.WithLabelValues("rejected").Inc() }

// Poisoned counts a message sent to the poison topic.
func (r *Registry) Poisoned(topic, handler string) { r.poisoned.WithLabelValues(topic, handler).Inc() }

// ObserveHTTP records one request on a route pattern (e.g. /data/{id}).
func (r *Registry) ObserveHTTP(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	method, code := strings.ToUpper(method), strconv.Itoa(status)
	r.httpRequests.WithLabelValues(route, method, code).Inc()
	r.httpDuration.WithLabelValues(route, method, code).Observe(d.Seconds())
}

var _ domain.Metrics = (*Registry)(nil)
