package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// smallMix is one series of small uploads: the sizes its files take in turn.
type smallMix struct {
	label string
	sizes []int
}

var smallMixes = map[string]smallMix{
	"1KiB": {"1 KiB", []int{1 << 10}},
	"mix":  {"1–64 KiB", smallSizes},
}

// smallSeries is what the runs of one mix at one concurrency measured, a
// value per run.
type smallSeries struct {
	rate, p50, p99                         []float64
	cpu                                    map[string][]float64 // per upload, by process, and "total"
	commits, walSyncs, fsyncs, records, pr []float64            // per upload
}

// runSmall measures small uploads of every mix at each concurrency, repeat
// times each, the concurrencies interleaved so that the machine's noise
// spreads over all of them. Each run's costs are the difference of two
// snapshots of the counters, the second one taken once PostgreSQL has
// reported its statistics.
func (b *bench) runSmall(ctx context.Context, label string, concurrency []int) error {
	for mi, mix := range b.small {
		bodies := smallBodies(64, mix.sizes)
		urls := b.serviceURLs()
		b.logf("small uploads (%s)%s: warming up", mix.label, label)
		if r := smallLoad(ctx, urls, bodies, 8, 2*time.Second); r.uploads == 0 {
			return fmt.Errorf("no small upload succeeded during the warm-up: %s", r.firstFail)
		}
		time.Sleep(statsSettle)
		got := map[int]*smallSeries{}
		failures := 0
		for rep := range b.repeat {
			for _, c := range concurrency {
				b.logf("small uploads (%s)%s: concurrency %d, run %d of %d", mix.label, label, c, rep+1, b.repeat)
				profile := b.profile != "" && label == "" && mi == 0 && rep == 0 && c == slices.Max(concurrency)
				n, err := b.smallRun(ctx, bodies, c, profile, got)
				if err != nil {
					return err
				}
				failures += n
			}
		}
		for _, c := range concurrency {
			b.addSmall(fmt.Sprintf("Small uploads, %s, concurrency %d%s", mix.label, c, label), got[c])
		}
		if failures > 0 {
			b.notef("Small uploads (%s)%s: %d requests did not end in 201 (left out of the figures).", mix.label, label, failures)
		}
	}
	return nil
}

// smallRun runs one load at concurrency c and adds its figures to got[c].
// It returns the number of failed uploads.
func (b *bench) smallRun(ctx context.Context, bodies []smallBody, c int, profile bool, got map[int]*smallSeries) (int, error) {
	before, err := b.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	if profile {
		go b.captureProfiles(ctx, b.procs(), max(1, int(b.smallDuration.Seconds())), fmt.Sprintf("small-c%d", c))
	}
	r := smallLoad(ctx, b.serviceURLs(), bodies, c, b.smallDuration)
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	if r.uploads == 0 {
		return 0, fmt.Errorf("no small upload succeeded at concurrency %d: %s", c, r.firstFail)
	}
	if r.failures > 0 {
		b.logf("  %d uploads failed, e.g. %s", r.failures, r.firstFail)
	}
	time.Sleep(statsSettle)
	after, err := b.snapshot(ctx)
	if err != nil {
		return 0, err
	}
	d := after.sub(before)
	n := float64(r.uploads + r.failures)
	s := got[c]
	if s == nil {
		s = &smallSeries{cpu: map[string][]float64{}}
		got[c] = s
	}
	s.rate = append(s.rate, r.perSecond())
	s.p50 = append(s.p50, ms(percentile(r.latencies, 50)))
	s.p99 = append(s.p99, ms(percentile(r.latencies, 99)))
	total := 0.0
	for _, p := range []string{"zeros", "ones", "broker", "postgres"} {
		s.cpu[p] = append(s.cpu[p], d.cpu[p]*1000/n)
		total += d.cpu[p]
	}
	s.cpu["total"] = append(s.cpu["total"], total*1000/n)
	s.commits = append(s.commits, d.commits/n)
	s.walSyncs = append(s.walSyncs, d.walSyncs/n)
	s.fsyncs = append(s.fsyncs, d.fsyncs/n)
	s.records = append(s.records, d.records/n)
	s.pr = append(s.pr, d.produces/n)
	return r.failures, nil
}

// addSmall adds the rows of one mix at one concurrency.
func (b *bench) addSmall(part string, s *smallSeries) {
	b.add(part, "uploads/s (to the 201 with the placement, both services in turn)", s.rate, perSec, "")
	b.add(part, "p50 latency to the 201", s.p50, msec, "")
	b.add(part, "p99 latency to the 201", s.p99, msec, "")
	var split []string
	for _, p := range []string{"zeros", "ones", "broker", "postgres"} {
		split = append(split, fmt.Sprintf("%s %.2f", p, median(s.cpu[p])))
	}
	b.add(part, "CPU time per upload: both services + broker + PostgreSQL backends", s.cpu["total"], msec2,
		"user + system, from /proc; medians: "+strings.Join(split, ", ")+" ms")
	b.add(part, "PostgreSQL commits per upload (both databases)", s.commits, plain, "pg_stat_database.xact_commit")
	b.add(part, "WAL syncs per upload", s.walSyncs, plain, "pg_stat_wal.wal_sync, the whole cluster (anything else on it counts too)")
	b.add(part, "file fsyncs per upload (both services)", s.fsyncs, plain, "baum_storage_syncs_total: files and directories")
	b.add(part, "Kafka produce requests per upload", s.pr, plain, fmt.Sprintf("records per upload %.2f (median); from the broker's /metrics", median(s.records)))
}
