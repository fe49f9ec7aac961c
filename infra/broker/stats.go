package broker

import (
	"encoding/binary"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// stats counts what clients ask of the broker: requests by API, and the
// records and bytes they produce. The benchmark reads them to tell what an
// upload costs in Kafka requests (baum broker --metrics-addr).
type stats struct {
	mu       sync.Mutex
	requests map[string]int64
	records  int64
	bytes    int64
}

func newStats(c *kfake.Cluster) *stats {
	s := &stats{requests: map[string]int64{}}
	c.Control(s.observe) // every request; it only looks
	return s
}

func (s *stats) observe(req kmsg.Request) (kmsg.Response, error, bool) {
	name := kmsg.NameForKey(req.Key())
	var records, bytes int64
	if p, ok := req.(*kmsg.ProduceRequest); ok {
		for _, t := range p.Topics {
			for _, part := range t.Partitions {
				records += batchRecords(part.Records)
				bytes += int64(len(part.Records))
			}
		}
	}
	s.mu.Lock()
	s.requests[name]++
	s.records += records
	s.bytes += bytes
	s.mu.Unlock()
	return nil, nil, false
}

// batchRecords counts the records in a produce request's record batches
// (magic 2: the record count is the int32 at byte 57 of each batch, whose
// length is the int32 at byte 8, after the 12 bytes of offset and length).
func batchRecords(b []byte) int64 {
	var n int64
	for len(b) >= 61 {
		length := int(int32(binary.BigEndian.Uint32(b[8:12])))
		n += int64(int32(binary.BigEndian.Uint32(b[57:61])))
		if length <= 0 || 12+length > len(b) {
			break
		}
		b = b[12+length:]
	}
	return n
}

// Describe and Collect make stats a prometheus.Collector.
func (s *stats) Describe(ch chan<- *prometheus.Desc) {
	ch <- requestsDesc
	ch <- recordsDesc
	ch <- bytesDesc
}

var (
	requestsDesc = prometheus.NewDesc("baum_broker_requests_total", "Kafka protocol requests the broker handled, by API.", []string{"api"}, nil)
	recordsDesc  = prometheus.NewDesc("baum_broker_produced_records_total", "Records clients produced.", nil, nil)
	bytesDesc    = prometheus.NewDesc("baum_broker_produced_bytes_total", "Bytes of record batches clients produced.", nil, nil)
)

func (s *stats) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for api, n := range s.requests {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n), api)
	}
	ch <- prometheus.MustNewConstMetric(recordsDesc, prometheus.CounterValue, float64(s.records))
	ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(s.bytes))
}

// MetricsHandler serves the broker's request counts in Prometheus' text
// format, with Go's runtime and process metrics.
func (b *Broker) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.stats, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
