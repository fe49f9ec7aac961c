package chaos_test

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/handlers/messaging"
	"github.com/baum-store/baum/messages"
)

var nReplicas = flag.Int("chaos.replicas", 1,
	"processes per role, sharing the role's database and data directory (instances zeros-1…N, ones-1…N); uploads go round-robin over all of them, and each kill of a service kills the next replica of that role")

// replica is one process of a role. With one per role it is the service as
// before replicas (no BAUM_INSTANCE: the host name).
type replica struct {
	role     messages.Service
	index    int    // in cluster.addrs
	instance string // BAUM_INSTANCE; "" with one replica per role
	name     string // the instance, or the role with one replica per role
	url      string
	p        *process

	// handled counts the messages this replica's handlers handled
	// (baum_watermill_handler_execution_time_seconds_count, by
	// handler_name), summed over its runs: scraped just before each kill
	// and after settling.
	handled map[string]float64
	// scrapeErrs are the scrapes that failed, and series whose instance
	// label is not this replica's.
	scrapeErrs []string
}

// startReplica starts replica i (from 0) of role on its own port, with the
// role's environment (c.env) and, with several replicas, its own stable
// BAUM_INSTANCE, which it keeps across restarts.
func (c *cluster) startReplica(t *testing.T, bin string, role messages.Service, i int) *replica {
	t.Helper()
	port := freePort(t)
	rep := &replica{role: role, index: len(c.addrs), name: string(role), url: "http://127.0.0.1:" + itoa(port), handled: map[string]float64{}}
	env := append(os.Environ(), "BAUM_HTTP_ADDR=127.0.0.1:"+itoa(port))
	env = append(env, c.env[role]...)
	if *nReplicas > 1 {
		rep.instance = fmt.Sprintf("%s-%d", role, i+1)
		rep.name = rep.instance
		env = append(env, "BAUM_INSTANCE="+rep.instance)
	}
	if *withRace {
		// A data race ends the process at once, so that the run fails
		// even if the process is killed before it would exit with 66.
		env = append(env, "GORACE=halt_on_error=1")
	}
	rep.p = &process{name: rep.name, bin: bin, args: []string{"serve", "--role", string(role)},
		env: env, logPath: filepath.Join(c.dir, rep.name+".log")}
	c.replicas[role] = append(c.replicas[role], rep)
	c.addrs = append(c.addrs, rep)
	if err := rep.p.start(); err != nil {
		t.Fatal(err)
	}
	return rep
}

// replicaToKill is the replica of role that fault (counted from 0) kills:
// each round of faults over zeros, ones and the broker takes the next
// replica, from one the seed picks.
func (c *cluster) replicaToKill(role messages.Service, seed uint64, fault int) *replica {
	n := len(c.replicas[role])
	return c.replicas[role][(int(seed%uint64(n))+fault/len(faultTargets))%n]
}

// tally adds what rep's handlers handled in its current run to its count.
// Called before a kill (the counters start again from zero with the next
// run) and after settling.
func (c *cluster) tally(rep *replica) {
	quick := &http.Client{Timeout: 2 * time.Second}
	res, err := quick.Get(rep.url + "/metrics")
	if err != nil {
		rep.scrapeErrs = append(rep.scrapeErrs, err.Error())
		return
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		rep.scrapeErrs = append(rep.scrapeErrs, fmt.Sprintf("GET /metrics: %d %v", res.StatusCode, err))
		return
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		rep.scrapeErrs = append(rep.scrapeErrs, err.Error())
		return
	}
	fam := families["baum_watermill_handler_execution_time_seconds"]
	if fam == nil {
		return // nothing handled yet in this run
	}
	for _, m := range fam.GetMetric() {
		var handler, instance string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "handler_name":
				handler = l.GetValue()
			case "instance":
				instance = l.GetValue()
			}
		}
		if rep.instance != "" && instance != rep.instance {
			rep.scrapeErrs = append(rep.scrapeErrs, fmt.Sprintf("a series of %s has instance=%q", handler, instance))
		}
		rep.handled[handler] += float64(m.GetHistogram().GetSampleCount())
	}
}

// checkWorkSplit counts what each replica handled (after settling, on top
// of what was scraped before its kills), fails the run if a replica handled
// nothing, and keeps the split for the report.
func (c *cluster) checkWorkSplit(t *testing.T, r *report) {
	t.Helper()
	for _, rep := range c.addrs {
		c.tally(rep)
		total := 0.0
		for _, n := range rep.handled {
			total += n
		}
		if total == 0 {
			r.fail("work split: replica %s handled no message", rep.name)
		}
		for _, e := range rep.scrapeErrs {
			t.Logf("metrics of %s: %s", rep.name, e)
		}
	}
	r.replicas = c.addrs
}

// handlers are the router's handlers, in the order the work split shows.
var handlers = []string{messaging.HandlerStoreChunk, messaging.HandlerEvents, messaging.HandlerAbortUpload, messaging.HandlerDeleteFile}

// workSplitTable prints the messages each replica handled, per handler,
// and its share of its role's.
func workSplitTable(b *strings.Builder, replicas []*replica) {
	fmt.Fprintf(b, "| replica | %s | all | share of its role |\n", strings.Join(handlers, " | "))
	fmt.Fprintf(b, "|---|%s--:|--:|\n", strings.Repeat("--:|", len(handlers)))
	byRole := map[messages.Service]float64{}
	for _, rep := range replicas {
		for _, n := range rep.handled {
			byRole[rep.role] += n
		}
	}
	for _, role := range messages.Services() {
		for _, rep := range slices.DeleteFunc(slices.Clone(replicas), func(x *replica) bool { return x.role != role }) {
			all := 0.0
			fmt.Fprintf(b, "| %s |", rep.name)
			for _, h := range handlers {
				fmt.Fprintf(b, " %.0f |", rep.handled[h])
				all += rep.handled[h]
			}
			share := 0.0
			if byRole[role] > 0 {
				share = 100 * all / byRole[role]
			}
			fmt.Fprintf(b, " %.0f | %.1f%% |\n", all, share)
		}
	}
}

// checkReplicasAgree counts under totals every replica of role after the
// first whose GET /data (totals and every page) differs from the first's.
func (c *cluster) checkReplicasAgree(t *testing.T, r *report, role messages.Service, s *serviceState) {
	t.Helper()
	for _, rep := range c.replicas[role][1:] {
		total, count, files := listAPI(t, rep)
		if total != s.apiTotal || count != s.apiCount || !maps.EqualFunc(files, s.apiFiles, func(a, b api.File) bool { return reflect.DeepEqual(a, b) }) {
			r.totals++
			r.fail("totals: %s's GET /data says %d bytes in %d files and lists %d; %s's %d bytes in %d, and lists %d",
				rep.name, total, count, len(files), c.replicas[role][0].name, s.apiTotal, s.apiCount, len(s.apiFiles))
		}
	}
}

// The kill schedule takes each replica of a role in turn (no processes
// needed: it runs without -chaos).
func TestEachRoundOfFaultsKillsTheNextReplica(t *testing.T) {
	c := &cluster{replicas: map[messages.Service][]*replica{}}
	for i := range 3 {
		for _, role := range messages.Services() {
			rep := &replica{role: role, index: len(c.addrs), name: fmt.Sprintf("%s-%d", role, i+1)}
			c.replicas[role] = append(c.replicas[role], rep)
			c.addrs = append(c.addrs, rep)
		}
	}
	var got []string
	for fault := range 3 * len(faultTargets) {
		got = append(got, c.replicaToKill(messages.Zeros, 4, fault).name)
	}
	// seed 4 starts at replica 4 % 3 = 1 (zeros-2); each round of three
	// faults (zeros, ones, broker) moves on by one.
	want := []string{"zeros-2", "zeros-2", "zeros-2", "zeros-3", "zeros-3", "zeros-3", "zeros-1", "zeros-1", "zeros-1"}
	if !slices.Equal(got, want) {
		t.Errorf("kills %v, want %v", got, want)
	}
}
