// Package postgres keeps a BAUM service's state in PostgreSQL through pgx and
// squirrel: upload records, the held files' metadata and their running totals.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	sq "github.com/Masterminds/squirrel"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/app/domain"
)

// psql builds statements with PostgreSQL's $n placeholders.
var psql = sq.StatementBuilder.PlaceholderFormat(sq.Dollar)

// Config configures the connection pool.
type Config struct {
	// URL is a libpq connection URL or key=value string, e.g.
	// postgres://postgres@127.0.0.1:5432/baum_zeros?sslmode=disable.
	// TLS is set by its sslmode, sslrootcert, sslcert and sslkey parameters.
	URL string
	// MaxConns bounds the pool. Default 10.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt. Default 5 s.
	ConnectTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxConns == 0 {
		c.MaxConns = 10
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
}

// Open returns a pool for config.URL. It does not wait for the server: a
// service starts (and reports not ready) while its database is down.
func Open(config Config) (*pgxpool.Pool, error) {
	config.setDefaults()
	pc, err := pgxpool.ParseConfig(config.URL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pc.MaxConns = config.MaxConns
	pc.ConnConfig.ConnectTimeout = config.ConnectTimeout
	return pgxpool.NewWithConfig(context.Background(), pc)
}

// EnsureDatabase creates the database named in url's path if it does not
// exist, connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, dbURL string) error {
	cc, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("database URL: %w", err)
	}
	name := cc.Database
	if name == "" {
		return errors.New("database URL names no database")
	}
	u, err := url.Parse(dbURL)
	if err != nil || u.Scheme == "" {
		return fmt.Errorf("database URL %q must be a postgres:// URL to create its database", redact(dbURL))
	}
	u.Path = "/postgres"
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return fmt.Errorf("connect to create database %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by someone else
		return nil
	}
	return err
}

// redact hides a password in a connection URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// classify wraps errors that mean "the database is not reachable right now"
// in domain.ErrUnavailable, so the messages that met them are retried rather
// than poisoned. An error pgx raised on the client side is ambiguous; a quick
// ping settles it.
func classify(ctx context.Context, pool *pgxpool.Pool, err error) error {
	if err == nil || errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	if unavailable(err) || ctx.Err() == nil && ping(ctx, pool) != nil {
		return fmt.Errorf("%w: database: %w", domain.ErrUnavailable, err)
	}
	return err
}

func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "55P03": // serialization failure, deadlock, lock not available
			return true
		}
		switch pgErr.Code[:2] {
		case "08", "53", "57", "58": // connection, resources, operator intervention, system
			return true
		}
		return false
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "closed pool")
}

func ping(ctx context.Context, pool *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return pool.Ping(ctx)
}
