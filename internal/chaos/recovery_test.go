package chaos_test

import (
	"cmp"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baum-store/baum/messages"
)

var maxRecovery = flag.Duration("chaos.max-recovery", 3*time.Second,
	"fail if a service answers no new upload 201 for longer than this after a fault's restarted process is ready")

// brokerTarget is the fault target that is the broker; the others are the
// services, by name.
const brokerTarget = "broker"

// faultTargets are the processes the test kills, in turn.
var faultTargets = []string{string(messages.Zeros), string(messages.Ones), brokerTarget}

// recoveryDeadline bounds the wait for the first 201 after a fault.
const recoveryDeadline = 90 * time.Second

// probeBase numbers the probe uploads apart from the others.
const probeBase = 10_000_000

var probes atomic.Int64

// faultService kills a service's process (now and then in the middle of a
// graceful shutdown) and restarts it after a random pause; with again, it
// kills it a second time while it starts. It returns the kills, the last one
// with the time its restart took to be ready. With replicas, it first counts
// what the process handled (its counters die with it).
func (c *cluster) faultService(t *testing.T, r *rand.Rand, rep *replica, begin time.Time, again bool) []kill {
	p := rep.p
	k := kill{target: string(rep.role), who: rep.name, at: time.Since(begin), graceful: r.IntN(4) == 0}
	var graceful time.Duration
	if k.graceful {
		graceful = time.Duration(20+r.IntN(400)) * time.Millisecond
	}
	if *nReplicas > 1 {
		c.tally(rep)
	}
	p.kill(graceful)
	kills := []kill{k}
	time.Sleep(time.Duration(r.IntN(1000)) * time.Millisecond)
	started := time.Now()
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if again {
		// Killed while reconciling its disk or joining its consumer groups.
		time.Sleep(time.Duration(r.IntN(1500)) * time.Millisecond)
		if *nReplicas > 1 {
			c.tally(rep)
		}
		p.kill(0)
		kills = append(kills, kill{target: string(rep.role), who: rep.name, at: time.Since(begin), starting: true})
		time.Sleep(time.Duration(r.IntN(500)) * time.Millisecond)
		started = time.Now()
		if err := p.start(); err != nil {
			t.Fatal(err)
		}
	}
	last := &kills[len(kills)-1]
	last.readyAt = c.readyAt(t, rep, 2*time.Minute)
	last.measured, last.back = true, last.readyAt.Sub(started)
	return kills
}

// faultBroker kills the broker and restarts it on the same port and data
// directory after a random pause. Its restart is ready when it accepts
// connections again.
func (c *cluster) faultBroker(t *testing.T, r *rand.Rand, begin time.Time) kill {
	k := kill{target: brokerTarget, who: brokerTarget, at: time.Since(begin)}
	c.broker.kill(0)
	time.Sleep(time.Duration(r.IntN(1000)) * time.Millisecond)
	started := time.Now()
	if err := c.broker.start(); err != nil {
		t.Fatal(err)
	}
	deadline := started.Add(2 * time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", c.brokers[0], time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker does not listen again within 2 min: %v\n%s", err, c.broker.logTail(30))
		}
		time.Sleep(10 * time.Millisecond)
	}
	k.readyAt = time.Now()
	k.measured, k.back = true, k.readyAt.Sub(started)
	return k
}

// readyAt waits until the process answers /readyz with 200 and returns when
// it first did (polled every 10 ms).
func (c *cluster) readyAt(t *testing.T, rep *replica, timeout time.Duration) time.Time {
	t.Helper()
	quick := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		res, err := quick.Get(rep.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Now()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (%v)\n%s", rep.name, timeout, err, rep.p.logTail(40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recover measures, for each service process at once (every replica), how
// long after from it answers a new upload 201: it sends small uploads one
// after the other (each a new one, made after from), until one is answered
// 201. Every probe is recorded with the other uploads, for the checks.
func (c *cluster) recover(t *testing.T, seed uint64, what string, from time.Time, record func(*upload)) map[*replica]time.Duration {
	out := map[*replica]time.Duration{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rep := range c.addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, answers := c.probe(seed, rep, from, record)
			mu.Lock()
			out[rep] = d
			mu.Unlock()
			t.Logf("recovery after %s: %s answered a new upload 201 after %s; the probes got %s", what, rep.name, fmtWait(d), answers)
		}()
	}
	wg.Wait()
	return out
}

// probe sends new uploads to rep until one is answered 201, and returns
// how long after from that was (-1: not within recoveryDeadline) and what
// the probes were answered.
func (c *cluster) probe(seed uint64, rep *replica, from time.Time, record func(*upload)) (time.Duration, string) {
	answers := map[string]int{}
	summary := func() string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(answers)) {
			parts = append(parts, fmt.Sprintf("%d× %s", answers[k], k))
		}
		return strings.Join(parts, ", ")
	}
	for time.Since(from) < recoveryDeadline {
		n := probeBase + int(probes.Add(1))
		data := probeContent(seed, n)
		u := newUpload(n, fmt.Sprintf("chaos-probe-%06d.bin", n-probeBase), data, rep)
		u.probe = true
		c.send(u, data, false)
		record(u)
		answer := strconv.Itoa(u.status)
		if u.status == 0 || u.outcome == rejected {
			answer += " " + truncate(strings.TrimSpace(u.err), 60)
		}
		answers[answer]++
		if u.outcome == accepted && u.status == http.StatusCreated {
			return time.Since(from), summary()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return -1, summary()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// probeContent is a probe's bytes: small (it measures the services, not the
// transfer), random, so the rule sends it anywhere.
func probeContent(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	data := make([]byte, 1+r.IntN(2<<10))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	return data
}

// recoveryTable prints, per fault target, how long the restarted process
// took to be ready, and how long after that each service took to answer a
// new upload 201 (max and p99 over the faults, and over its replicas). It
// returns a failure for every wait longer than maxRecovery, or that never
// ended.
func recoveryTable(b *strings.Builder, kills []kill) []string {
	var failures []string
	fmt.Fprintf(b, "| fault | times | ready after restart (max) | zeros serves again (max / p99) | ones serves again (max / p99) |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|\n")
	for _, target := range faultTargets {
		var back []time.Duration
		served := map[messages.Service][]time.Duration{}
		for _, k := range kills {
			if k.target != target || !k.measured {
				continue
			}
			back = append(back, k.back)
			for _, rep := range slices.SortedFunc(maps.Keys(k.served), func(a, b *replica) int { return a.index - b.index }) {
				d := k.served[rep]
				served[rep.role] = append(served[rep.role], d)
				if d < 0 || d > *maxRecovery {
					failures = append(failures, fmt.Sprintf("recovery: after kill -9 of %s at %.1fs, %s answered no new upload 201 for %s (limit %s)",
						k.who, k.at.Seconds(), rep.name, fmtWait(d), *maxRecovery))
				}
			}
		}
		if len(back) == 0 {
			fmt.Fprintf(b, "| kill -9 %s | 0 | | | |\n", target)
			continue
		}
		fmt.Fprintf(b, "| kill -9 %s | %d | %s | %s / %s | %s / %s |\n", target, len(back), fmtWait(slices.Max(back)),
			fmtWait(percentile(served[messages.Zeros], 100)), fmtWait(percentile(served[messages.Zeros], 99)),
			fmtWait(percentile(served[messages.Ones], 100)), fmtWait(percentile(served[messages.Ones], 99)))
	}
	return failures
}

// latencyTable prints the answer times of the uploads of the whole run that
// were accepted (201 or 202), probes aside.
func latencyTable(b *strings.Builder, uploads []*upload) {
	var all, created []time.Duration
	for _, u := range uploads {
		if u.probe || u.outcome != accepted {
			continue
		}
		all = append(all, u.took)
		if u.status == http.StatusCreated {
			created = append(created, u.took)
		}
	}
	fmt.Fprintf(b, "| answers | uploads | p50 | p90 | p99 | max |\n|---|--:|--:|--:|--:|--:|\n")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"accepted (201 or 202)", all}, {"201", created}} {
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s |\n", row.name, len(row.d), fmtWait(percentile(row.d, 50)),
			fmtWait(percentile(row.d, 90)), fmtWait(percentile(row.d, 99)), fmtWait(percentile(row.d, 100)))
	}
}

// percentile is the nearest-rank percentile p of ds; a negative duration
// (never) ranks above all others. 0 if ds is empty.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, func(a, b time.Duration) int {
		switch {
		case a < 0 && b < 0:
			return 0
		case a < 0:
			return 1
		case b < 0:
			return -1
		}
		return cmp.Compare(a, b)
	})
	i := (p*len(s)+99)/100 - 1
	return s[max(0, min(i, len(s)-1))]
}

func fmtWait(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}
