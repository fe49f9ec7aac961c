package service_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

func TestMetricsChangeAfterAnUpload(t *testing.T) {
	sys := testsystem.Start(t, nil)
	before := map[messages.Service]metrics{}
	for _, role := range messages.Services() {
		before[role] = scrape(t, sys, role)
	}
	// More one bits: received by zeros, counted by both, kept by ones.
	data := bytes.Repeat([]byte{0xFF, 0x7F}, 500)
	if f := uploadFile(t, sys, messages.Zeros, "ones.bin", data); !slices.Equal(f.StoredIn, []messages.Service{messages.Ones}) {
		t.Fatalf("stored in %v", f.StoredIn)
	}
	testsystem.WaitSettled(t, sys.Broker.Addrs(), "baum", 30*time.Second)
	after := map[messages.Service]metrics{}
	for _, role := range messages.Services() {
		after[role] = scrape(t, sys, role)
	}
	rose := func(role messages.Service, name string, labels ...string) float64 {
		return after[role].sum(name, labels...) - before[role].sum(name, labels...)
	}
	type want struct {
		role   messages.Service
		name   string
		labels []string
		delta  float64 // exact rise; -1 means "rose"
	}
	z, o := messages.Zeros, messages.Ones
	wants := []want{
		// HTTP, by route and status.
		{z, "baum_http_requests_total", []string{`route="/data/upload"`, `method="POST"`, `status="201"`}, 1},
		{z, "baum_http_request_duration_seconds_count", nil, -1},
		{z, "baum_uploads_total", []string{`result="accepted"`}, 1},
		{z, "baum_upload_bytes_total", nil, 1000},
		// Domain: both count the bytes and see the same placement; ones stores it.
		{z, "baum_bits_counted_bytes_total", nil, 1000},
		{o, "baum_bits_counted_bytes_total", nil, 1000},
		{z, "baum_placements_total", []string{`outcome="ones"`}, 1},
		{o, "baum_placements_total", []string{`outcome="ones"`}, 1},
		{z, "baum_placements_total", []string{`outcome="zeros"`}, 0},
		{o, "baum_files_stored_total", nil, 1},
		{o, "baum_stored_bytes_total", nil, 1000},
		{z, "baum_files_stored_total", nil, 0},
		{o, "baum_stored_files", nil, 1},
		{o, "baum_stored_bytes", nil, 1000},
		{z, "baum_stored_files", nil, 0},
		// Watermill's router, publisher and subscriber.
		{z, "baum_watermill_handler_execution_time_seconds_count", []string{`handler_name="store-chunk"`}, -1},
		{o, "baum_watermill_handler_execution_time_seconds_count", []string{`handler_name="events"`}, -1},
		{z, "baum_watermill_publish_time_seconds_count", nil, -1},
		// Publishes by origin (the dashboard's publish latency): the chunk
		// of the HTTP upload, then the events each handler published,
		// which Watermill files under its disabled publisher's name.
		{z, "baum_watermill_publish_time_seconds_count", []string{`handler_name="<no handler>"`, `publisher_name="kafka.Publisher"`}, 1},
		{o, "baum_watermill_publish_time_seconds_count", []string{`handler_name="store-chunk"`, `publisher_name="message.disabledPublisher"`}, 1}, // BitsCounted
		{o, "baum_watermill_publish_time_seconds_count", []string{`handler_name="events"`, `publisher_name="message.disabledPublisher"`}, 1},      // FileStored
		{o, "baum_watermill_subscriber_messages_received_total", nil, -1},
	}
	for _, w := range wants {
		if _, ok := after[w.role].series(w.name); !ok {
			t.Errorf("%s exports no %s", w.role, w.name)
			continue
		}
		d := rose(w.role, w.name, w.labels...)
		if w.delta < 0 && d <= 0 || w.delta >= 0 && d != w.delta {
			t.Errorf("%s: %s%v rose by %v, want %v", w.role, w.name, w.labels, d, w.delta)
		}
	}
	for _, role := range messages.Services() {
		for _, reason := range messages.FailureReasons() {
			if _, ok := after[role][fmt.Sprintf(`baum_upload_failures_total{reason=%q,service=%q}`, reason, role)]; !ok {
				t.Errorf("%s does not export upload failures for %q", role, reason)
			}
		}
	}

	// A failed upload counts by reason; a message no handler can read ends
	// in the poison topic and counts there.
	bus, pub := commandBus(t, sys)
	if err := bus.Send(t.Context(), messages.AbortUpload{UploadID: "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1", Reason: "metrics test"}); err != nil {
		t.Fatal(err)
	}
	poison := message.NewMessage(watermill.NewUUID(), []byte("{}"))
	poison.Metadata.Set(messages.HeaderName, "baum.NoSuchCommand.v1")
	if err := pub.Publish(messages.TopicDeleteFile, poison); err != nil {
		t.Fatal(err)
	}
	testsystem.Eventually(t, 30*time.Second, func() string {
		for _, role := range messages.Services() {
			m := scrape(t, sys, role)
			if d := m.sum("baum_upload_failures_total", `reason="aborted"`) - after[role].sum("baum_upload_failures_total", `reason="aborted"`); d != 1 {
				return fmt.Sprintf("%s: aborted uploads rose by %v", role, d)
			}
			if d := m.sum("baum_poisoned_messages_total", `topic="`+messages.TopicDeleteFile+`"`) - after[role].sum("baum_poisoned_messages_total"); d != 1 {
				return fmt.Sprintf("%s: poisoned messages rose by %v", role, d)
			}
		}
		return ""
	})
}

// series reports whether a metric has any series, and how many.
func (m metrics) series(name string) (int, bool) {
	n := 0
	for key := range m {
		if len(key) > len(name) && key[:len(name)] == name && (key[len(name)] == '{') {
			n++
		}
	}
	return n, n > 0
}

// blockedDeletes is an upload store whose deletes wait until released.
type blockedDeletes struct {
	command.Uploads
	release chan struct{}
}

func (b blockedDeletes) DeleteFile(ctx context.Context, id string) (domain.File, bool, error) {
	select {
	case <-b.release:
	case <-ctx.Done():
		return domain.File{}, false, ctx.Err()
	}
	return b.Uploads.DeleteFile(ctx, id)
}

// Each consumer group's lag — committed offsets against the high-water
// marks — is a metric per partition and a line of /readyz: it rises while
// a handler is stuck and falls back to 0 once it catches up.
func TestConsumerLagIsAMetricAndInReadyz(t *testing.T) {
	release := make(chan struct{})
	sys := testsystem.Start(t, nil, testsystem.WithServiceOptions(messages.Zeros,
		service.WithUploads(func(u command.Uploads) command.Uploads { return blockedDeletes{Uploads: u, release: release} })))
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	group := messaging.GroupName("baum", messages.Zeros, messaging.HandlerDeleteFile)
	lagOf := func() (readyz int64, metric float64, series int) {
		var body struct {
			ConsumerLag map[string]int64 `json:"consumer_lag"`
		}
		res := sys.Get(t, messages.Zeros, "/readyz")
		conforms(t, http.MethodGet, "/readyz", res)
		res.JSON(t, &body)
		m := scrape(t, sys, messages.Zeros)
		n, _ := m.series("baum_consumer_lag")
		return body.ConsumerLag[group], m.sum("baum_consumer_lag", `group="`+group+`"`, `topic="`+messages.TopicDeleteFile+`"`), n
	}
	sys.WaitSettled(t, 30*time.Second)
	testsystem.Eventually(t, 30*time.Second, func() string {
		if r, m, n := lagOf(); r != 0 || m != 0 || n == 0 {
			return fmt.Sprintf("settled: lag %d in /readyz, %v in %d series", r, m, n)
		}
		return ""
	})
	// Three deletes for one file: one stuck in its handler, two behind it.
	bus, _ := commandBus(t, sys)
	id := uuid.Must(uuid.NewV7()).String()
	for range 3 {
		if err := bus.Send(t.Context(), messages.DeleteFile{FileID: id, Service: messages.Zeros}); err != nil {
			t.Fatal(err)
		}
	}
	partition := sys.Partition(t, messages.TopicDeleteFile, id)
	testsystem.Eventually(t, 30*time.Second, func() string {
		m := scrape(t, sys, messages.Zeros)
		one := m[fmt.Sprintf(`baum_consumer_lag{group=%q,partition="%d",service="zeros",topic=%q}`, group, partition, messages.TopicDeleteFile)]
		if r, sum, _ := lagOf(); r != 3 || sum != 3 || one != 3 {
			return fmt.Sprintf("stuck: lag %d in /readyz, %v over the group's series, %v on partition %d; want 3", r, sum, one, partition)
		}
		return ""
	})
	close(release)
	released = true
	testsystem.Eventually(t, 30*time.Second, func() string {
		if r, m, _ := lagOf(); r != 0 || m != 0 {
			return fmt.Sprintf("caught up: lag %d in /readyz, %v in the metric", r, m)
		}
		return ""
	})
}
