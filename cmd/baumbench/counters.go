package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// counters are the costs the system has run up so far, read from outside
// the processes: CPU time by process (from /proc), PostgreSQL's commits in
// the benchmark's two databases (pg_stat_database) and WAL syncs of the
// whole cluster (pg_stat_wal), the services' fsync calls (their
// baum_storage_syncs_total) and the broker's produce requests and records
// (its /metrics). A run's cost is the difference of two snapshots.
type counters struct {
	cpu      map[string]float64 // zeros, ones, broker
	backends map[int32]float64  // CPU time of each PostgreSQL backend serving the two databases, by pid
	commits  float64
	walSyncs float64
	fsyncs   float64
	produces float64 // Produce requests
	records  float64 // records produced
}

// statsSettle is how long to wait after a run before the snapshot that
// ends it: an idle PostgreSQL backend reports its counts to pg_stat_* only
// after up to 10 s (PGSTAT_IDLE_INTERVAL).
const statsSettle = 11 * time.Second

func (b *bench) snapshot(ctx context.Context) (counters, error) {
	c := counters{cpu: map[string]float64{}, backends: map[int32]float64{}}
	for _, role := range roles {
		c.cpu[role] = b.services[role].cpuSeconds()
		syncs, err := scrape(ctx, b.urls[role]+"/metrics", "baum_storage_syncs_total")
		if err != nil {
			return c, err
		}
		c.fsyncs += syncs
	}
	c.cpu["broker"] = b.broker.cpuSeconds()
	var err error
	if c.produces, err = scrape(ctx, b.brokerMetrics, `baum_broker_requests_total{api="Produce"}`); err != nil {
		return c, err
	}
	if c.records, err = scrape(ctx, b.brokerMetrics, "baum_broker_produced_records_total"); err != nil {
		return c, err
	}
	return c, b.postgresCounters(ctx, &c)
}

// postgresCounters reads the commits of the benchmark's databases, the WAL
// syncs and the CPU time of the backends connected to the two databases,
// from a connection to the postgres database (whose own commits are not
// counted).
func (b *bench) postgresCounters(ctx context.Context, c *counters) error {
	conn, err := pgx.Connect(ctx, dbURL(b.postgres, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	dbs := []string{b.prefix + "_zeros", b.prefix + "_ones"}
	if err := conn.QueryRow(ctx, "SELECT coalesce(sum(xact_commit), 0)::float8 FROM pg_stat_database WHERE datname = ANY($1)", dbs).Scan(&c.commits); err != nil {
		return err
	}
	if err := conn.QueryRow(ctx, "SELECT wal_sync::float8 FROM pg_stat_wal").Scan(&c.walSyncs); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = ANY($1)", dbs)
	if err != nil {
		return err
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return err
	}
	for _, pid := range pids {
		c.backends[pid] = cpuOf(int(pid))
	}
	return nil
}

// scrape reads one sample of a Prometheus text exposition: the line that
// starts with series (its name, and its labels if given) and then a space.
func scrape(ctx context.Context, url, series string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		// A service adds its own label (service="zeros"): match the name
		// with or without labels.
		if name == series || strings.HasPrefix(name, series+"{") {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %s: %w", url, line, err)
			}
			sum += v
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, nil // not produced yet: a counter still at zero
	}
	return sum, nil
}

// cpuOf is the CPU time (user + system) process pid has used; 0 if it is gone.
func cpuOf(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ is 100 on Linux
}

// sub returns the costs between two snapshots. The CPU of PostgreSQL is
// summed over the backends alive at the end (a backend that started
// meanwhile counts from zero), under cpu["postgres"].
func (c counters) sub(before counters) counters {
	d := counters{cpu: map[string]float64{}, commits: c.commits - before.commits, walSyncs: c.walSyncs - before.walSyncs,
		fsyncs: c.fsyncs - before.fsyncs, produces: c.produces - before.produces, records: c.records - before.records}
	for k, v := range c.cpu {
		d.cpu[k] = v - before.cpu[k]
	}
	for pid, v := range c.backends {
		d.cpu["postgres"] += v - before.backends[pid]
	}
	return d
}
