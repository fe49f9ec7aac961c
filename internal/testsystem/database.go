package testsystem

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/baum-store/baum/infra/postgres"
	"github.com/baum-store/baum/migrations"
)

// Database creates a migrated database of its own for one test (dropped
// when the test ends) and returns a pool on it, for tests of the use cases
// against the real store without a whole system.
func Database(t testing.TB) *pgxpool.Pool {
	t.Helper()
	name := "baumtest_" + randomHex(6) + "_db"
	url := DatabaseURL(name)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := postgres.EnsureDatabase(ctx, url); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() { dropDatabase(t, name) })
	pool, err := postgres.Open(postgres.Config{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if _, err := postgres.Migrate(ctx, pool, migrations.FS); err != nil {
		t.Fatalf("migrate %s: %v", name, err)
	}
	return pool
}

// DatabaseURL is the URL of database name on the test server.
func DatabaseURL(name string) string {
	return strings.Replace(PostgresURL(), "/?", "/"+name+"?", 1)
}

func dropDatabase(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, DatabaseURL("postgres"))
	if err != nil {
		t.Logf("cannot drop %s: %v", name, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}
