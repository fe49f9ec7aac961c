package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/messages"
)

// runKernels runs the Go benchmarks of the bit-counting kernel and of the
// staging pass, and SHA-256 once more without SHA-NI.
func (b *bench) runKernels() error {
	count := strconv.Itoa(b.kernelRuns)
	b.logf("kernel benchmarks (go test -bench ./app/bits, -count %s)", count)
	lines, logs, err := goBench(b.root, "./app/bits", "^(BenchmarkOnesVsRead|BenchmarkOnes)$", nil, "-benchtime", "300ms", "-count", count)
	if err != nil {
		return err
	}
	kernel := "?"
	for _, l := range logs {
		if _, k, ok := strings.Cut(l, "kernel "); ok {
			kernel = k
		}
	}
	ones := values(lines, "BenchmarkOnesVsRead", "ones-GB/s")
	b.add("Bit count", fmt.Sprintf("bits.Ones over 64 MiB (kernel %s)", kernel), ones, gbps, "")
	b.add("Bit count", "read baseline, every word (same run)", values(lines, "BenchmarkOnesVsRead", "read-GB/s"), gbps,
		"count/read "+ratioRange(values(lines, "BenchmarkOnesVsRead", "ratio"))+" (target ≥ 0.90)")
	b.add("Bit count", "read baseline, one word per cache line (same run)", values(lines, "BenchmarkOnesVsRead", "readlines-GB/s"), gbps,
		"count/read "+ratioRange(values(lines, "BenchmarkOnesVsRead", "ratio-lines")))
	inCache := mbToGB(values(lines, "BenchmarkOnes/256KiB", "MB/s"))
	b.add("Bit count", "bits.Ones over a 256 KiB buffer (in cache)", inCache, gbps, "")

	b.logf("staging benchmarks (go test -bench ./app/command, -count %s)", count)
	st, _, err := goBench(b.root, "./app/command", "^BenchmarkStaging$", nil, "-benchtime", "3x", "-count", count)
	if err != nil {
		return err
	}
	b.logf("SHA-256 without SHA-NI (GODEBUG=cpu.sha=off)")
	noNI, _, err := goBench(b.root, "./app/command", "^BenchmarkStaging$/^sha256$", []string{"GODEBUG=cpu.sha=off"}, "-benchtime", "3x", "-count", "3")
	if err != nil {
		return err
	}
	sha := values(st, "BenchmarkStaging/sha256", "MB/s")
	chunk := size(messages.DefaultChunkSize)
	shaOff := values(noNI, "BenchmarkStaging/sha256", "MB/s")
	shaNI := "no sha_ni CPU flag: Go's crypto/sha256 uses the AVX2/SSE path"
	if strings.Contains(b.machine.CPUFlags, "sha_ni") {
		shaNI = "CPU has SHA-NI; Go's crypto/sha256 uses it (blockSHANI)"
	}
	b.add("Hashing", "SHA-256 (crypto/sha256) over 64 MiB in "+chunk+" writes", sha, mbps,
		fmt.Sprintf("%s; counting a 256 KiB buffer is %s× faster", shaNI, ratioOf(inCache, mbToGB(sha))))
	b.add("Hashing", "SHA-256 with SHA-NI off (GODEBUG=cpu.sha=off)", shaOff, mbps,
		fmt.Sprintf("SHA-NI speed-up %s×", ratioOf(sha, shaOff)))
	write := values(st, "BenchmarkStaging/write", "MB/s")
	b.add("Staging", "write only: 64 MiB staged file in "+chunk+" chunks (page cache)", write, mbps, "")
	seq := values(st, "BenchmarkStaging/sequential", "MB/s")
	b.add("Staging", "write, then hash, then count, one after the other", seq, mbps, "what staging did before")
	pass := values(st, "BenchmarkStaging/pass", "MB/s")
	b.add("Staging", "one pass: StageChunkHandler, hash ∥ (write + count)", pass, mbps,
		fmt.Sprintf("%s× sequential; %s× SHA-256 alone (its bound)", ratioOf(pass, seq), ratioOf(pass, sha)))
	return nil
}

// runSmall measures small uploads at each concurrency, repeat times each,
// the concurrencies interleaved so that the machine's noise spreads over
// all of them.
func (b *bench) runSmall(ctx context.Context, label string, concurrency []int) error {
	bodies := smallBodies(64)
	urls := b.serviceURLs()
	b.logf("small uploads%s: warming up", label)
	if r := smallLoad(ctx, urls, bodies, 8, 2*time.Second); r.uploads == 0 {
		return fmt.Errorf("no small upload succeeded during the warm-up: %s", r.firstFail)
	}
	type series struct{ rate, p50, p99, cpu []float64 }
	got := map[int]*series{}
	failures := 0
	for rep := range b.repeat {
		for _, c := range concurrency {
			b.logf("small uploads%s: concurrency %d, run %d of %d", label, c, rep+1, b.repeat)
			cpu0 := b.cpuSeconds()
			r := smallLoad(ctx, urls, bodies, c, b.smallDuration)
			cpu := b.cpuSeconds() - cpu0
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if r.uploads == 0 {
				return fmt.Errorf("no small upload succeeded at concurrency %d: %s", c, r.firstFail)
			}
			if r.failures > 0 {
				b.logf("  %d uploads failed, e.g. %s", r.failures, r.firstFail)
			}
			failures += r.failures
			s := got[c]
			if s == nil {
				s = &series{}
				got[c] = s
			}
			s.rate = append(s.rate, r.perSecond())
			s.p50 = append(s.p50, ms(percentile(r.latencies, 50)))
			s.p99 = append(s.p99, ms(percentile(r.latencies, 99)))
			s.cpu = append(s.cpu, cpu*1000/float64(r.uploads+r.failures))
		}
	}
	for _, c := range concurrency {
		s := got[c]
		part := fmt.Sprintf("Small uploads, concurrency %d%s", c, label)
		b.add(part, "uploads/s (1–64 KiB, to the 201, both services in turn)", s.rate, perSec, "")
		b.add(part, "p50 latency to the 201", s.p50, msec, "")
		b.add(part, "p99 latency to the 201", s.p99, msec, "")
		b.add(part, "CPU time per upload, both services + broker", s.cpu, msec, "user + system, from /proc; less sensitive to the machine's load")
	}
	if failures > 0 {
		b.notef("Small uploads%s: %d requests did not end in 201 (left out of the figures).", label, failures)
	}
	return nil
}

// runBig uploads the big file runs times, each after a baseline run that
// writes the same bytes twice to the same filesystem, and records the
// processes' peak RSS and CPU time.
func (b *bench) runBig(ctx context.Context, label string, runs int, withBaseline bool) error {
	src := filepath.Join(b.dir, "big.bin")
	if _, err := os.Stat(src); err != nil {
		b.logf("writing a %s random file", size(b.big))
		sum, err := bigFile(src, b.big)
		if err != nil {
			return err
		}
		os.WriteFile(src+".sha256", []byte(sum), 0o644)
	}
	sumb, _ := os.ReadFile(src + ".sha256")
	want := string(sumb)
	// The service that receives the upload does more (it reads the HTTP
	// body, hashes it and produces the chunks) than the other (it only
	// stages them), so figures are kept by that part, the runs taking the
	// two services in turn.
	names := []string{"receiving service", "other service", "broker"}
	var (
		rate, base, ratio []float64
		peak              = map[string][]float64{}
		idle              = map[string][]float64{}
		cpu               = map[string][]float64{}
		logGrowth         []float64
		peakNoted         bool
	)
	for run := range runs {
		if withBaseline {
			b.logf("big%s: baseline, run %d of %d", label, run+1, runs)
			took, err := writeTwice(src, b.dir)
			if err != nil {
				return err
			}
			base = append(base, float64(b.big)/took.Seconds()/1e6)
		}
		receiver := roles[run%2]
		procs := []*proc{b.services[receiver], b.services[roles[(run+1)%2]], b.broker}
		cpu0 := make([]float64, len(procs))
		for i, p := range procs {
			_, rss, _ := p.memory()
			idle[names[i]] = append(idle[names[i]], mib(rss))
			if err := p.resetPeak(); err != nil && !peakNoted {
				// Without clear_refs the peak also covers the phases before.
				b.notef("Could not reset VmHWM (%v): the peak RSS figures include the earlier phases.", err)
				peakNoted = true
			}
			cpu0[i] = p.cpuSeconds()
		}
		kafkaDir := filepath.Join(b.dir, "kafka")
		log0 := dirSize(kafkaDir)
		var profiles sync.WaitGroup
		if b.profile != "" && run == 0 && label == "" {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				b.captureProfiles(ctx, procs)
			}()
		}
		b.logf("big%s: uploading %s, run %d of %d", label, size(b.big), run+1, runs)
		ans, took, err := postBig(ctx, b.urls[receiver], src, b.big)
		if err != nil {
			return fmt.Errorf("big upload: %w", err)
		}
		if ans.SHA256 != want || ans.Size != b.big {
			return fmt.Errorf("big upload answered size %d, SHA-256 %s; sent %d, %s", ans.Size, ans.SHA256, b.big, want)
		}
		mbs := float64(b.big) / took.Seconds() / 1e6
		rate = append(rate, mbs)
		if withBaseline {
			ratio = append(ratio, mbs/base[len(base)-1])
		}
		for i, p := range procs {
			hwm, _, err := p.memory()
			if err != nil {
				return err
			}
			peak[names[i]] = append(peak[names[i]], mib(hwm))
			cpu[names[i]] = append(cpu[names[i]], (p.cpuSeconds()-cpu0[i])*float64(1<<30)/float64(b.big))
		}
		logGrowth = append(logGrowth, float64(dirSize(kafkaDir)-log0)/float64(b.big))
		profiles.Wait()
	}
	part := fmt.Sprintf("Big upload, %s%s", size(b.big), label)
	note := ""
	if withBaseline {
		note = "to the baseline: " + ratioRange(ratio)
	}
	b.add(part, "MB/s to the 201 (streamed from a file)", rate, mbps, note)
	if withBaseline {
		b.add(part, "baseline: the same bytes written twice to the same filesystem, fsync each", base, mbps, "")
		b.add(part, "upload / baseline", ratio, plain, "")
	}
	turns := "zeros"
	if runs > 1 {
		turns = "zeros and ones in turn"
	}
	for _, n := range names {
		note := fmt.Sprintf("%s MiB before the upload", rangeOf(idle[n], "%.0f"))
		if n == names[0] {
			note = turns + "; " + note
		}
		if n != "broker" {
			note += "; target ≤ 64 MiB"
		} else if b.brokerInMemory {
			note += "; in-memory broker: holds every record"
		} else {
			note += "; records go to its data directory"
		}
		b.add(part, "peak RSS (VmHWM) of the "+n, peak[n], mibFmt, note)
	}
	for _, n := range names {
		b.add(part, "CPU time of the "+n+" per GiB uploaded", cpu[n], secs, "user + system, from /proc; less sensitive to the machine's load than MB/s")
	}
	if !b.brokerInMemory {
		b.add(part, "broker log written per byte uploaded", logGrowth, plain, "the record log on disk, until retention removes it")
	}
	return nil
}

// cpuSeconds is the CPU time the broker and both services have used.
func (b *bench) cpuSeconds() float64 {
	var t float64
	for _, p := range b.procs() {
		t += p.cpuSeconds()
	}
	return t
}

// captureProfiles writes CPU profiles of the processes (their profilers are
// on) while the big upload runs.
func (b *bench) captureProfiles(ctx context.Context, procs []*proc) {
	os.MkdirAll(b.profile, 0o755)
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.pprof == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.pprof, b.profileSeconds)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			res, err := client.Do(req)
			if err != nil {
				b.logf("profile of %s: %v", p.name, err)
				return
			}
			defer res.Body.Close()
			path := filepath.Join(b.profile, p.name+".cpu.pprof")
			f, err := os.Create(path)
			if err != nil {
				b.logf("profile of %s: %v", p.name, err)
				return
			}
			defer f.Close()
			f.ReadFrom(res.Body)
			b.logf("profile of %s: %s (go tool pprof -top %s %s)", p.name, path, b.bin, path)
		}()
	}
	wg.Wait()
}

// runList seeds files into zeros' read model and times GET /data.
func (b *bench) runList(ctx context.Context) error {
	url := dbURL(b.postgres, b.prefix+"_zeros")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	b.logf("seeding %d files into zeros' files table (COPY)", b.files)
	ids := make([]string, b.files)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7()).String()
	}
	sum := make([]byte, 32)
	t0 := time.Now()
	var added int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		now := time.Now().UTC()
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"files"},
			[]string{"id", "name", "content_type", "size", "sha256", "zero_bits", "one_bits", "stored_at"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
				size := int64(smallSizes[i%len(smallSizes)])
				rand.Read(sum)
				added += size
				return []any{ids[i], "seed-" + strconv.Itoa(i) + ".bin", "application/octet-stream", size,
					hex.EncodeToString(sum), 4 * size, 4 * size, now}, nil
			}))
		if err != nil {
			return err
		}
		if n != int64(len(ids)) {
			return fmt.Errorf("copied %d rows of %d", n, len(ids))
		}
		_, err = tx.Exec(ctx, "UPDATE totals SET total_size = total_size + $1, count = count + $2", added, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("seed files: %w", err)
	}
	seed := time.Since(t0)
	if _, err := conn.Exec(ctx, "ANALYZE files"); err != nil {
		return err
	}
	var held int64
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM files").Scan(&held); err != nil {
		return err
	}
	part := fmt.Sprintf("GET /data, %d files held", held)
	b.add(part, fmt.Sprintf("seeding %d rows (COPY into files + totals, one transaction)", b.files), []float64{seed.Seconds()}, secs,
		"real uploads would take far longer; the read model is what GET /data reads")

	slices.Sort(ids)
	const n = 200
	for _, q := range []struct{ figure, query string }{
		{"first page, ?limit=100", "?limit=100"},
		{"middle page, ?limit=100&after=<id in the middle>", "?limit=100&after=" + ids[len(ids)/2]},
		{"last page, ?limit=100&after=<id near the end>", "?limit=100&after=" + ids[len(ids)-50]},
		{"first page, ?limit=1000", "?limit=1000"},
	} {
		b.logf("GET /data%s ×%d", q.query, n)
		lat, page, err := getList(ctx, b.urls["zeros"], q.query, n)
		if err != nil {
			return err
		}
		if page.Count != held || len(page.List) == 0 {
			return fmt.Errorf("GET /data%s: count %d with %d files listed; %d held", q.query, page.Count, len(page.List), held)
		}
		b.addText(part, q.figure, fmt.Sprintf("p50 %.2f ms, p99 %.2f ms", ms(percentile(lat, 50)), ms(percentile(lat, 99))),
			fmt.Sprintf("n=%d", len(lat)), fmt.Sprintf("%d files in the page; totals read from the running total", len(page.List)))
	}

	// For contrast, what the API avoids, timed on the same database.
	var offsetLat, sumLat []time.Duration
	for range 20 {
		t0 := time.Now()
		rows, err := conn.Query(ctx, "SELECT id FROM files ORDER BY id OFFSET $1 LIMIT 100", held/2)
		if err != nil {
			return err
		}
		rows.Close()
		offsetLat = append(offsetLat, time.Since(t0))
		t0 = time.Now()
		var c, s int64
		if err := conn.QueryRow(ctx, "SELECT count(*), coalesce(sum(size), 0) FROM files").Scan(&c, &s); err != nil {
			return err
		}
		sumLat = append(sumLat, time.Since(t0))
	}
	b.addText(part, "for contrast (SQL only): an OFFSET page in the middle", fmt.Sprintf("p50 %.2f ms", ms(percentile(offsetLat, 50))),
		fmt.Sprintf("n=%d", len(offsetLat)), "what keyset pagination avoids; grows with the offset")
	b.addText(part, "for contrast (SQL only): count(*) + sum(size) over files", fmt.Sprintf("p50 %.2f ms", ms(percentile(sumLat, 50))),
		fmt.Sprintf("n=%d", len(sumLat)), "what the running total avoids; grows with the files held")
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func mib(n int64) float64        { return float64(n) / (1 << 20) }

func mbToGB(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x / 1000
	}
	return out
}

func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
