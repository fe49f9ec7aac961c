package baum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/infra/metrics"
	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/migrations"
)

// Service is one running BAUM service (zeros or ones): its HTTP API, its
// Watermill router and the adapters behind them.
type Service struct {
	config   Config
	log      *slog.Logger
	pool     *pgxpool.Pool
	store    *postgres.Store
	disk     *storage.Disk
	pub      message.Publisher
	probe    *kafka.Probe
	router   *message.Router
	maint    *command.Maintenance
	metrics  *metrics.Registry
	api      *httpport.Server
	http     *http.Server
	listener net.Listener
	profiler *Profiler

	kafkaUp atomic.Bool
}

// Option changes how NewService assembles a service. Tests use options to
// put faults between the use cases and the adapters; production needs none.
type Option func(*options)

type options struct {
	uploads func(command.Uploads) command.Uploads
}

// WithUploads wraps the upload store the use cases work with (not the one
// the queries read).
func WithUploads(wrap func(command.Uploads) command.Uploads) Option {
	return func(o *options) { o.uploads = wrap }
}

// NewService connects a service to its database and Kafka (waiting for them
// up to StartupTimeout), applies migrations, repairs the disk after a crash
// and assembles the use cases. Run starts it.
func NewService(ctx context.Context, config Config, log *slog.Logger, opts ...Option) (_ *Service, err error) {
	s := &Service{config: config, log: log}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	defer func() {
		if err != nil {
			s.closeAdapters()
		}
	}()
	startCtx, cancel := context.WithTimeout(ctx, config.StartupTimeout)
	defer cancel()

	if config.CreateDatabase {
		if err := retry(startCtx, log, "create database", func() error { return postgres.EnsureDatabase(startCtx, config.DatabaseURL) }); err != nil {
			return nil, err
		}
	}
	if s.pool, err = postgres.Open(postgres.Config{URL: config.DatabaseURL, MaxConns: int32(config.DatabaseMaxConn)}); err != nil {
		return nil, err
	}
	if err := retry(startCtx, log, "migrate database", func() error {
		applied, err := postgres.Migrate(startCtx, s.pool, migrations.FS)
		if len(applied) > 0 {
			log.Info("database migrated", "applied", applied)
		}
		return err
	}); err != nil {
		return nil, err
	}
	s.store = postgres.NewStore(s.pool)
	if s.disk, err = storage.Open(config.DataDir); err != nil {
		return nil, err
	}

	s.metrics = metrics.New(config.Role)
	s.metrics.WatchTotals(s.store.Totals)
	wm := s.metrics.Watermill()

	kcfg := config.Kafka()
	wlog := watermill.NewSlogLoggerWithLevelMapping(log.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug, // Watermill's info lines are per-handler chatter
	})
	if err := retry(startCtx, log, "connect to Kafka", func() (err error) {
		pub, err := kafka.NewPublisher(kcfg, wlog)
		if err != nil {
			// A broker that refuses a login or a certificate often just
			// closes the connection: say what was tried.
			return fmt.Errorf("%s: %w", kcfg.Describe(), err)
		}
		s.pub, err = wm.DecoratePublisher(pub)
		return err
	}); err != nil {
		return nil, err
	}
	s.probe = kafka.NewProbe(kcfg)
	s.kafkaUp.Store(true)

	commandBus, err := messaging.NewCommandBus(s.pub, wlog)
	if err != nil {
		return nil, err
	}
	eventBus, err := messaging.NewEventBus(s.pub, wlog)
	if err != nil {
		return nil, err
	}
	self := config.Role
	notifier := domain.NewNotifier()
	var uploads command.Uploads = s.store
	if o.uploads != nil {
		uploads = o.uploads(uploads)
	}
	deps := command.Deps{
		Self:     self,
		Uploads:  uploads,
		Disk:     s.disk,
		Staging:  command.NewStaging(s.disk, domain.BitKind(self)),
		Events:   eventBus,
		Notifier: notifier,
		Metrics:  s.metrics,
		Log:      log,
	}
	s.maint = command.NewMaintenance(deps)
	repair, err := s.maint.Reconcile(startCtx)
	if err != nil {
		return nil, fmt.Errorf("reconcile disk with database: %w", err)
	}
	if repair != (command.Repair{}) {
		log.Warn("repaired what an earlier run left behind", "repair", fmt.Sprintf("%+v", repair))
	}

	s.router, err = messaging.NewRouter(
		messaging.RouterConfig{Self: self, GroupPrefix: config.GroupPrefix, CloseTimeout: config.ShutdownTimeout, OnPoisoned: s.metrics.Poisoned},
		messaging.Handlers{
			StageChunk:  command.NewStageChunkHandler(deps, command.StageChunkConfig{SyncStaged: config.SyncStaged}),
			AbortUpload: command.NewAbortUploadHandler(deps),
			DeleteFile:  command.NewDeleteFileHandler(deps),
			PlaceFile:   command.NewPlaceFileHandler(deps),
			Outcome:     command.NewRecordOutcomeHandler(deps),
		},
		s.pub,
		func(group string) (message.Subscriber, error) {
			sub, err := kafka.NewSubscriber(kcfg, group, wlog)
			if err != nil {
				return nil, err
			}
			return wm.DecorateSubscriber(sub)
		},
		wlog, log)
	if err != nil {
		return nil, err
	}
	wm.AddPrometheusRouterMetrics(s.router)

	sender, err := messages.NewSender(commandBus, messages.SenderConfig{ChunkSize: config.ChunkSize, Origin: string(self),
		ReuseBuffers: true})
	if err != nil {
		return nil, err
	}
	s.api, err = httpport.NewServer(httpport.Config{MaxUploadBytes: config.MaxUploadBytes, UploadWait: config.UploadWait,
		IdleReadTimeout: config.HTTPIdleReadTimeout},
		httpport.Deps{
			Self:     self,
			Sender:   sender,
			Commands: commandBus,
			Files:    query.NewListFilesHandler(s.store),
			File:     query.NewFileHandler(s.store, notifier),
			Content:  query.NewFileContentHandler(s.store, s.disk),
			Upload:   query.NewUploadHandler(s.store, notifier),
			Ready: map[string]httpport.Check{
				"database": s.store.Ping,
				"kafka":    s.probe.Check,
				"router":   s.routerReady,
				"storage":  func(context.Context) error { return s.disk.Check() },
			},
			Accepting: s.accepting,
			Metrics:   s.metrics,
			Log:       log,
		})
	if err != nil {
		return nil, err
	}
	s.http = &http.Server{
		Handler: s.api,
		// A client that trickles its headers (slowloris) is cut off; a
		// stalled body is the upload handler's business (IdleReadTimeout),
		// since a whole-request ReadTimeout would cut off large uploads.
		ReadHeaderTimeout: config.HTTPReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    config.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if s.listener, err = net.Listen("tcp", config.HTTPAddr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", config.HTTPAddr, err)
	}
	if config.PprofAddr != "" {
		if s.profiler, err = StartProfiler(config.PprofAddr, log); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// API is the service's HTTP port.
func (s *Service) API() *httpport.Server { return s.api }

// KafkaConfig is how this service connects to Kafka.
func (s *Service) KafkaConfig() kafka.Config { return s.config.Kafka() }

// Addr is where the HTTP API listens.
func (s *Service) Addr() string { return s.listener.Addr().String() }

// Run serves until ctx ends, then stops gracefully: HTTP first (in-flight
// uploads finish, and their waits still hear from the router), then the
// router (in-flight messages finish; unacknowledged ones are delivered
// again later), then the adapters.
func (s *Service) Run(ctx context.Context) error {
	routerErr := make(chan error, 1)
	go func() { routerErr <- s.router.Run(context.WithoutCancel(ctx)) }()
	httpErr := make(chan error, 1)
	go func() { httpErr <- s.http.Serve(s.listener) }()
	go s.watch(ctx)
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
	s.log.Info("service stopping", "role", s.config.Role)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.config.ShutdownTimeout)
	defer cancel()
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		s.log.Warn("HTTP shutdown cut short", "error", err)
		s.http.Close()
	}
	s.api.Close()
	if err := s.router.Close(); err != nil {
		s.log.Warn("router close", "error", err)
	}
	select {
	case <-routerErr:
	case <-shutdownCtx.Done():
	}
	s.closeAdapters()
	s.log.Info("service stopped", "role", s.config.Role)
	return runErr
}

func (s *Service) closeAdapters() {
	if s.pub != nil {
		s.pub.Close()
	}
	if s.probe != nil {
		s.probe.Close()
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
}

// watch keeps the Kafka status fresh for the upload gate, and fails stalled
// uploads now and then.
func (s *Service) watch(ctx context.Context) {
	probe := time.NewTicker(2 * time.Second)
	defer probe.Stop()
	sweep := time.NewTicker(min(time.Minute, s.config.StalledAfter/4))
	defer sweep.Stop()
	started := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-probe.C:
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.probe.Check(pctx)
			cancel()
			if up := err == nil; up != s.kafkaUp.Swap(up) {
				s.log.Warn("Kafka status changed", "up", up, "error", err)
			}
		case <-sweep.C:
			// A service that was down catches up on its backlog first; only
			// then is a silent upload really stalled.
			if time.Since(started) < s.config.StalledAfter {
				continue
			}
			if n, err := s.maint.FailStalled(ctx, s.config.StalledAfter); err != nil {
				s.log.Warn("stalled-upload sweep", "error", err)
			} else if n > 0 {
				s.log.Info("failed stalled uploads", "count", n)
			}
		}
	}
}

func (s *Service) routerReady(context.Context) error {
	select {
	case <-s.router.Running():
		if s.router.IsClosed() {
			return errors.New("closed")
		}
		return nil
	default:
		return errors.New("not running yet")
	}
}

// accepting gates uploads: nothing is accepted that could not be carried
// through right now.
func (s *Service) accepting(ctx context.Context) error {
	if !s.kafkaUp.Load() {
		return errors.New("Kafka is unavailable")
	}
	if err := s.routerReady(ctx); err != nil {
		return fmt.Errorf("message router %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.store.Ping(pctx); err != nil {
		return errors.New("the database is unavailable")
	}
	return nil
}

// retry runs fn until it succeeds or ctx ends, logging each failure.
func retry(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	delay := 250 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		log.Warn("start: "+what+" failed; retrying", "error", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up: %v)", what, err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}
