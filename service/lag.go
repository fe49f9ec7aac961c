package service

import (
	"context"

	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/infra/metrics"
)

// watchLag exports the lag of the service's consumer groups as a metric and
// puts it into /readyz's body, both read through the readiness probe's
// connection to Kafka.
func (s *Service) watchLag(reg *metrics.Registry) {
	groups := messaging.Groups(s.config.GroupPrefix, s.config.Role)
	lag := func(ctx context.Context) ([]kafka.PartitionLag, error) { return s.probe.Lag(ctx, groups) }
	reg.WatchLag(lag)
	s.ready.lag = lag
}

// ConsumerLag implements the HTTP port's LagReporter: the messages each
// consumer group has yet to commit, over all its partitions.
func (r *readiness) ConsumerLag(ctx context.Context) (map[string]int64, error) {
	lag, err := r.lag(ctx)
	if err != nil {
		return nil, err
	}
	byGroup := map[string]int64{}
	for _, l := range lag {
		byGroup[l.Group] += l.Lag
	}
	return byGroup, nil
}
