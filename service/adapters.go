package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgxpool"

	wmetrics "github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/internal/retry"
	"github.com/baum-store/baum/migrations"
)

// startPolicy is how a starting service retries its database and Kafka
// until StartupTimeout: they may start after it (compose starts them
// together; a restarted database takes a while).
var startPolicy = retry.Policy{First: 250 * time.Millisecond, Max: 5 * time.Second}

// untilUp runs fn by startPolicy until it succeeds or ctx ends, logging each
// failure.
func untilUp(ctx context.Context, log *slog.Logger, what string, fn func() error) error {
	err := retry.Do(ctx, startPolicy, fn, func(_ int, err error, wait time.Duration) {
		log.Warn("start: "+what+" failed; retrying", "error", err, "retry_in", wait.String())
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("%s: %w (gave up: %v)", what, err, ctx.Err())
	}
	return err
}

// openDatabase creates the database if configured to, opens the pool and
// applies the migrations.
func openDatabase(ctx context.Context, config Config, log *slog.Logger) (*pgxpool.Pool, error) {
	if config.CreateDatabase {
		if err := untilUp(ctx, log, "create database", func() error { return postgres.EnsureDatabase(ctx, config.DatabaseURL) }); err != nil {
			return nil, err
		}
	}
	pool, err := postgres.Open(postgres.Config{URL: config.DatabaseURL, MaxConns: int32(config.DatabaseMaxConn)})
	if err != nil {
		return nil, err
	}
	if err := untilUp(ctx, log, "migrate database", func() error {
		applied, err := postgres.Migrate(ctx, pool, migrations.FS)
		if len(applied) > 0 {
			log.Info("database migrated", "applied", applied)
		}
		return err
	}); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// connectKafka opens the publisher every bus and the poison queue publish
// through, decorated with Watermill's metrics.
func connectKafka(ctx context.Context, kcfg kafka.Config, wm wmetrics.PrometheusMetricsBuilder, wlog watermill.LoggerAdapter, log *slog.Logger) (message.Publisher, error) {
	var pub message.Publisher
	err := untilUp(ctx, log, "connect to Kafka", func() error {
		p, err := kafka.NewPublisher(kcfg, wlog)
		if err != nil {
			// A broker that refuses a login or a certificate often just
			// closes the connection: say what was tried.
			return fmt.Errorf("%s: %w", kcfg.Describe(), err)
		}
		pub, err = wm.DecoratePublisher(p)
		return err
	})
	return pub, err
}

// watermillLogger is Watermill's log through the service's, one level
// quieter: Watermill's info lines are per-handler chatter.
func watermillLogger(log *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(log.With("component", "watermill"), map[slog.Level]slog.Level{
		slog.LevelInfo: slog.LevelDebug,
	})
}
