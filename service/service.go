package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/infra/metrics"
	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/infra/storage"
	"github.com/baum-store/baum/messages"
)

// Service is one running BAUM service (zeros or ones): its HTTP API, its
// Watermill router and the adapters behind them.
type Service struct {
	config   Config
	log      *slog.Logger
	app      app.Application
	ready    *readiness
	pool     *pgxpool.Pool
	pub      message.Publisher
	probe    *kafka.Probe
	chunks   *kafka.ChunkLog
	router   *message.Router
	api      *httpport.Server
	http     *http.Server
	listener net.Listener
	profiler *Profiler

	auth            *httpport.Authenticator
	tokenFileSum    [32]byte
	metrics         *http.Server
	metricsListener net.Listener
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
// and assembles the use cases and the ports. Run starts it.
func NewService(ctx context.Context, config Config, log *slog.Logger, opts ...Option) (_ *Service, err error) {
	s := &Service{config: config, log: log}
	defer func() {
		if err != nil {
			s.closeAdapters()
		}
	}()
	startCtx, cancel := context.WithTimeout(ctx, config.StartupTimeout)
	defer cancel()
	reg := metrics.New(config.Role)
	a, err := s.connect(startCtx, reg, opts)
	if err != nil {
		return nil, err
	}
	if s.app, err = NewApplication(config, a, log); err != nil {
		return nil, err
	}
	if err := s.reconcile(startCtx); err != nil {
		return nil, err
	}
	if err := s.newRouter(reg); err != nil {
		return nil, err
	}
	if err := s.newHTTP(reg); err != nil {
		return nil, err
	}
	if config.PprofAddr != "" {
		if s.profiler, err = StartProfiler(config.PprofAddr, log); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// connect opens the database, the disk and Kafka, and returns them as the
// use cases' adapters.
func (s *Service) connect(ctx context.Context, reg *metrics.Registry, opts []Option) (Adapters, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var err error
	if s.pool, err = openDatabase(ctx, s.config, s.log); err != nil {
		return Adapters{}, err
	}
	notifier := domain.NewNotifier()
	store := postgres.NewStore(s.pool, notifier.Committed)
	reg.WatchTotals(store.Totals)
	disk, err := storage.OpenWithConfig(storage.Config{Dir: s.config.DataDir, Instance: s.config.Instance,
		DirectWrites: s.config.SyncStaged})
	if err != nil {
		return Adapters{}, err
	}
	reg.WatchSyncs(disk.Syncs)
	journal, err := storage.OpenSendJournal(s.config.DataDir, s.config.Instance)
	if err != nil {
		return Adapters{}, err
	}
	kcfg := s.config.Kafka()
	wlog := watermillLogger(s.log)
	if s.pub, err = connectKafka(ctx, kcfg, reg.Watermill(), wlog, s.log); err != nil {
		return Adapters{}, err
	}
	s.probe = kafka.NewProbe(kcfg)
	s.ready = &readiness{database: &recent{check: store.Ping, ttl: 250 * time.Millisecond}, kafka: s.probe.Check, storage: func(context.Context) error { return disk.Check() }, log: s.log}
	s.ready.kafkaUp.Store(true)
	s.watchLag(reg)
	commands, err := messages.NewCommandBus(s.pub, wlog)
	if err != nil {
		return Adapters{}, err
	}
	events, err := messaging.NewEventBus(s.pub, wlog)
	if err != nil {
		return Adapters{}, err
	}
	sender, err := messages.NewSender(commands, messages.SenderConfig{ChunkSize: s.config.ChunkSize,
		Origin: string(s.config.Role), ReuseBuffers: true})
	if err != nil {
		return Adapters{}, err
	}
	s.chunks = kafka.NewChunkLog(kcfg)
	a := Adapters{Uploads: store, Read: store, Disk: disk, Events: events, Commands: commands, Sender: sender, Metrics: reg,
		Notifier: notifier, Chunks: s.chunks, Locate: kafka.Locate, Journal: journal}
	if o.uploads != nil {
		a.Uploads = o.uploads(a.Uploads)
	}
	return a, nil
}

// reconcile repairs what an earlier run left behind, before any message is
// consumed.
func (s *Service) reconcile(ctx context.Context) error {
	repair, err := s.app.Commands.Reconcile.Handle(ctx)
	if err != nil {
		return fmt.Errorf("reconcile disk with database: %w", err)
	}
	if repair != (command.Repair{}) {
		s.log.Warn("repaired what an earlier run left behind", "repair", fmt.Sprintf("%+v", repair))
	}
	return nil
}

// newRouter builds the Kafka port: the router feeding the use cases.
func (s *Service) newRouter(reg *metrics.Registry) error {
	kcfg := s.config.Kafka()
	wm := reg.Watermill()
	wlog := watermillLogger(s.log)
	var err error
	s.router, err = messaging.NewRouter(
		messaging.RouterConfig{Self: s.config.Role, GroupPrefix: s.config.GroupPrefix, CloseTimeout: s.config.ShutdownTimeout, OnPoisoned: reg.Poisoned},
		s.app.Commands, s.pub,
		func(group string) (message.Subscriber, error) {
			sub, err := kafka.NewSubscriber(kcfg, group, wlog)
			if err != nil {
				return nil, err
			}
			return wm.DecorateSubscriber(sub)
		},
		wlog, s.log)
	if err != nil {
		return err
	}
	wm.AddPrometheusRouterMetrics(s.router)
	s.ready.router = s.router
	return nil
}

// newHTTP builds the HTTP port and opens its listener.
func (s *Service) newHTTP(reg *metrics.Registry) error {
	var err error
	if s.auth, err = s.newAuthenticator(); err != nil {
		return err
	}
	s.api, err = httpport.NewServer(httpport.Config{MaxUploadBytes: s.config.MaxUploadBytes, UploadWait: s.config.UploadWait,
		IdleReadTimeout: s.config.HTTPIdleReadTimeout, MetricsApart: s.config.MetricsAddr != ""},
		httpport.Deps{Self: s.config.Role, App: s.app, Readiness: s.ready, Metrics: reg, Log: s.log, Auth: s.auth})
	if err != nil {
		return err
	}
	if s.config.MetricsAddr != "" {
		if err := s.serveMetricsApart(reg.Handler()); err != nil {
			return err
		}
	}
	s.http = &http.Server{
		Handler: s.api,
		// A client that trickles its headers (slowloris) is cut off; a
		// stalled body is the upload handler's business (IdleReadTimeout),
		// since a whole-request ReadTimeout would cut off large uploads.
		ReadHeaderTimeout: s.config.HTTPReadHeaderTimeout,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.config.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.listener, err = net.Listen("tcp", s.config.HTTPAddr); err != nil {
		return fmt.Errorf("listen on %s: %w", s.config.HTTPAddr, err)
	}
	return nil
}

// API is the service's HTTP port.
func (s *Service) API() *httpport.Server { return s.api }

// KafkaConfig is how this service connects to Kafka.
func (s *Service) KafkaConfig() kafka.Config { return s.config.Kafka() }

// Instance names this replica of its role (BAUM_INSTANCE).
func (s *Service) Instance() string { return s.config.Instance }

// Addr is where the HTTP API listens.
func (s *Service) Addr() string { return s.listener.Addr().String() }
