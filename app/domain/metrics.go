package domain

import "github.com/baum-store/baum/messages"

// Metrics hears about what the use cases do, for monitoring. The use cases
// call it; an adapter (infra/metrics) turns the calls into Prometheus series.
type Metrics interface {
	// BytesCounted: n bytes were staged, hashed and counted.
	BytesCounted(n int)
	// PlacementDecided: both counts of an upload are known; keepers keep it.
	PlacementDecided(keepers []messages.Service)
	// FileStored: this service committed a file of size bytes.
	FileStored(size int64)
	// FileDeleted: this service deleted a file of size bytes.
	FileDeleted(size int64)
	// UploadFailed: an upload failed, for reason.
	UploadFailed(reason string)
}

// NopMetrics records nothing.
type NopMetrics struct{}

func (NopMetrics) BytesCounted(int)                    {}
func (NopMetrics) PlacementDecided([]messages.Service) {}
func (NopMetrics) FileStored(int64)                    {}
func (NopMetrics) FileDeleted(int64)                   {}
func (NopMetrics) UploadFailed(string)                 {}
