package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// bigSeries is what the big uploads measured, a value per run.
type bigSeries struct {
	rate, base, ratio, logGrowth []float64
	peak, idle, cpu              map[string][]float64 // by bigNames
	peakNoted                    bool
}

// bigNames name the processes of a big upload by their part in it: the
// service that receives the upload does more (it reads the HTTP body,
// hashes it and produces the chunks) than the other (it only stages them),
// so figures are kept by that part, the runs taking the two services in
// turn.
var bigNames = []string{"receiving service", "other service", "broker"}

// runBig uploads the big file runs times, each after a baseline run that
// writes the same bytes twice to the same filesystem, and records the
// processes' peak RSS and CPU time.
func (b *bench) runBig(ctx context.Context, label string, runs int, withBaseline bool) error {
	return b.runBigOf(ctx, b.big, label, runs, withBaseline)
}

// runBigOf is runBig with a file of size bytes.
func (b *bench) runBigOf(ctx context.Context, size int64, label string, runs int, withBaseline bool) error {
	src, want, err := b.bigSource(size)
	if err != nil {
		return err
	}
	s := &bigSeries{peak: map[string][]float64{}, idle: map[string][]float64{}, cpu: map[string][]float64{}}
	for run := range runs {
		if withBaseline {
			b.logf("big%s: baseline, run %d of %d", label, run+1, runs)
			took, err := writeTwice(src, b.dir)
			if err != nil {
				return err
			}
			s.base = append(s.base, float64(size)/took.Seconds()/1e6)
		}
		if err := b.bigRun(ctx, label, run, runs, bigFileOf{src, want, size}, withBaseline, s); err != nil {
			return err
		}
	}
	b.addBig(fmt.Sprintf("Big upload, %s%s", sizeOf(size), label), runs, withBaseline, s)
	return nil
}

// bigFileOf is a file to upload: its path, SHA-256 and size.
type bigFileOf struct {
	path, sha256 string
	size         int64
}

// bigSource writes a random file of n bytes once and returns its path and
// SHA-256.
func (b *bench) bigSource(n int64) (string, string, error) {
	src := filepath.Join(b.dir, fmt.Sprintf("big-%d.bin", n))
	if _, err := os.Stat(src); err != nil {
		b.logf("writing a %s random file", sizeOf(n))
		sum, err := bigFile(src, n)
		if err != nil {
			return "", "", err
		}
		os.WriteFile(src+".sha256", []byte(sum), 0o644)
	}
	sum, err := os.ReadFile(src + ".sha256")
	return src, string(sum), err
}

// bigRun uploads the big file once, to the service whose turn it is.
func (b *bench) bigRun(ctx context.Context, label string, run, runs int, file bigFileOf, withBaseline bool, s *bigSeries) error {
	receiver := roles[run%2]
	procs := []*proc{b.services[receiver], b.services[roles[(run+1)%2]], b.broker}
	cpu0 := make([]float64, len(procs))
	for i, p := range procs {
		_, rss, _ := p.memory()
		s.idle[bigNames[i]] = append(s.idle[bigNames[i]], mib(rss))
		if err := p.resetPeak(); err != nil && !s.peakNoted {
			// Without clear_refs the peak also covers the phases before.
			b.notef("Could not reset VmHWM (%v): the peak RSS figures include the earlier phases.", err)
			s.peakNoted = true
		}
		cpu0[i] = p.cpuSeconds()
	}
	kafkaDir := filepath.Join(b.dir, "kafka")
	log0 := dirSize(kafkaDir)
	var profiles sync.WaitGroup
	if b.profile != "" && run == 0 && label == "" {
		profiles.Go(func() { b.captureProfiles(ctx, procs, b.profileSeconds, "big") })
	}
	b.logf("big%s: uploading %s, run %d of %d", label, sizeOf(file.size), run+1, runs)
	ans, took, err := postBig(ctx, b.urls[receiver], file.path, file.size)
	if err != nil {
		return fmt.Errorf("big upload: %w", err)
	}
	if ans.SHA256 != file.sha256 || ans.Size != file.size {
		return fmt.Errorf("big upload answered size %d, SHA-256 %s; sent %d, %s", ans.Size, ans.SHA256, file.size, file.sha256)
	}
	mbs := float64(file.size) / took.Seconds() / 1e6
	s.rate = append(s.rate, mbs)
	if withBaseline {
		s.ratio = append(s.ratio, mbs/s.base[len(s.base)-1])
	}
	for i, p := range procs {
		hwm, _, err := p.memory()
		if err != nil {
			return err
		}
		s.peak[bigNames[i]] = append(s.peak[bigNames[i]], mib(hwm))
		s.cpu[bigNames[i]] = append(s.cpu[bigNames[i]], (p.cpuSeconds()-cpu0[i])*float64(1<<30)/float64(file.size))
	}
	s.logGrowth = append(s.logGrowth, float64(dirSize(kafkaDir)-log0)/float64(file.size))
	profiles.Wait()
	return nil
}

// addBig adds the rows of the big uploads.
func (b *bench) addBig(part string, runs int, withBaseline bool, s *bigSeries) {
	note := ""
	if withBaseline {
		note = "to the baseline: " + ratioRange(s.ratio)
	}
	b.add(part, "MB/s to the 201 (streamed from a file)", s.rate, mbps, note)
	if withBaseline {
		b.add(part, "baseline: the same bytes written twice to the same filesystem, fsync each", s.base, mbps, "")
		b.add(part, "upload / baseline", s.ratio, plain, "")
	}
	turns := "zeros"
	if runs > 1 {
		turns = "zeros and ones in turn"
	}
	for _, n := range bigNames {
		note := fmt.Sprintf("%s MiB before the upload", rangeOf(s.idle[n], "%.0f"))
		if n == bigNames[0] {
			note = turns + "; " + note
		}
		if n != "broker" {
			note += "; target ≤ 64 MiB"
		} else if b.brokerInMemory {
			note += "; in-memory broker: holds every record"
		} else {
			note += "; records go to its data directory"
		}
		b.add(part, "peak RSS (VmHWM) of the "+n, s.peak[n], mibFmt, note)
	}
	for _, n := range bigNames {
		b.add(part, "CPU time of the "+n+" per GiB uploaded", s.cpu[n], secs, "user + system, from /proc; less sensitive to the machine's load than MB/s")
	}
	if !b.brokerInMemory {
		b.add(part, "broker log written per byte uploaded", s.logGrowth, plain, "the record log on disk, until retention removes it")
	}
}

// captureProfiles writes CPU profiles of the processes (their profilers are
// on) while the big upload runs, and profiles of what they allocated
// meanwhile (Go's delta allocs profile over the same seconds).
func (b *bench) captureProfiles(ctx context.Context, procs []*proc, seconds int, phase string) {
	os.MkdirAll(b.profile, 0o755)
	var wg sync.WaitGroup
	for _, p := range procs {
		if p.pprof == "" {
			continue
		}
		wg.Go(func() { b.fetchProfile(ctx, p, "profile", seconds, phase+".cpu") })
		wg.Go(func() { b.fetchProfile(ctx, p, "allocs", seconds, phase+".allocs") })
	}
	wg.Wait()
}

// fetchProfile writes one profile of p, /debug/pprof/<kind>?seconds=N,
// to <profile dir>/<name>.<suffix>.pprof.
func (b *bench) fetchProfile(ctx context.Context, p *proc, kind string, seconds int, suffix string) {
	url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", p.pprof, kind, seconds)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	res, err := client.Do(req)
	if err != nil {
		b.logf("%s profile of %s: %v", kind, p.name, err)
		return
	}
	defer res.Body.Close()
	path := filepath.Join(b.profile, p.name+"."+suffix+".pprof")
	f, err := os.Create(path)
	if err != nil {
		b.logf("%s profile of %s: %v", kind, p.name, err)
		return
	}
	defer f.Close()
	f.ReadFrom(res.Body)
	b.logf("%s profile of %s: %s (go tool pprof -top %s %s)", kind, p.name, path, b.bin, path)
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

func sizeOf(n int64) string {
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
