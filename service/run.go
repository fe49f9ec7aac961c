package service

import (
	"context"
	"fmt"
	"time"

	"github.com/baum-store/baum/infra/postgres"
)

// Run serves until ctx ends, then stops gracefully: HTTP first (in-flight
// uploads finish, and their waits still hear from the router), then the
// router (in-flight messages finish; unacknowledged ones are delivered
// again later), then the adapters.
func (s *Service) Run(ctx context.Context) error {
	routerErr := make(chan error, 1)
	go func() { routerErr <- s.router.Run(context.WithoutCancel(ctx)) }()
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.http.Serve(s.listener) }()
	// The background work ends before the adapters close, however Run ends
	// (a router or HTTP failure too, not only ctx).
	bg, stopBackground := context.WithCancel(ctx)
	defer stopBackground()
	go s.ready.watchKafka(bg, 2*time.Second)
	go s.sweepStalled(bg)
	go s.sweepStaged(bg)
	// Changes other replicas commit wake this one's waits (they read them).
	go postgres.Listen(bg, s.pool, s.config.Instance, s.notifier.Notify)
	go s.watchTokens(bg, tokenFileInterval)
	if n := s.app.Commands.SendUpload.AbortLeft(); n > 0 {
		s.log.Warn("aborting the uploads an earlier run died while sending", "count", n)
	}
	s.log.Info("service started", "role", s.config.Role, "http", s.Addr(), "kafka", s.config.KafkaBrokers, "data_dir", s.config.DataDir)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-routerErr:
		runErr = fmt.Errorf("message router stopped: %w", err)
		routerErr <- nil
	case err := <-httpErr:
		runErr = fmt.Errorf("HTTP server stopped: %w", err)
	}
	stopBackground()
	s.stop(routerErr)
	return runErr
}

// stop shuts the service down within ShutdownTimeout.
func (s *Service) stop(routerErr <-chan error) {
	s.log.Info("service stopping", "role", s.config.Role)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.config.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("HTTP shutdown cut short", "error", err)
		s.http.Close()
	}
	s.app.Commands.SendUpload.Close()
	if err := s.router.Close(); err != nil {
		s.log.Warn("router close", "error", err)
	}
	select {
	case <-routerErr:
	case <-shutdownCtx.Done():
	}
	s.closeAdapters()
	s.log.Info("service stopped", "role", s.config.Role)
}

func (s *Service) closeAdapters() {
	if s.pub != nil {
		s.pub.Close()
	}
	if s.probe != nil {
		s.probe.Close()
	}
	if s.chunks != nil {
		s.chunks.Close()
	}
	if s.pool != nil {
		s.pool.Close()
	}
	if s.listener != nil {
		s.listener.Close()
	}
	if s.profiler != nil {
		s.profiler.Close()
	}
	if s.metrics != nil {
		s.metrics.Close()
	}
}

// sweepStalled fails stalled uploads now and then until ctx ends.
func (s *Service) sweepStalled(ctx context.Context) {
	sweep := time.NewTicker(min(time.Minute, s.config.StalledAfter/4))
	defer sweep.Stop()
	started := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			// A service that was down catches up on its backlog first; only
			// then is a silent upload really stalled.
			if time.Since(started) < s.config.StalledAfter {
				continue
			}
			if n, err := s.app.Commands.FailStalled.Handle(ctx, s.config.StalledAfter); err != nil {
				s.log.Warn("stalled-upload sweep", "error", err)
			} else if n > 0 {
				s.log.Info("failed stalled uploads", "count", n)
			}
		}
	}
}

// sweepStaged removes, now and then until ctx ends, this replica's staged
// files that no upload needs any more: those of uploads another replica
// finished after a rebalance.
func (s *Service) sweepStaged(ctx context.Context) {
	sweep := time.NewTicker(s.stagedSweep)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if n, err := s.app.Commands.SweepStaged.Handle(ctx); err != nil {
				s.log.Warn("staged-file sweep", "error", err)
			} else if n > 0 {
				s.log.Info("removed staged files no upload needs", "count", n)
			}
		}
	}
}
