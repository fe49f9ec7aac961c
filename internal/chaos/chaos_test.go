package chaos_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/s3test"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

var (
	enabled   = flag.Bool("chaos", false, "run the chaos test (builds the baum binary; runs the broker and both services as processes)")
	nUploads  = flag.Int("chaos.uploads", 300, "uploads to make (more if kills are still due when they are done)")
	nKills    = flag.Int("chaos.kills", 5, "faults during the uploads: kill -9 of zeros, ones and the broker in turn, each restarted")
	nWorkers  = flag.Int("chaos.workers", 8, "uploads in flight at once")
	maxSize   = flag.Int("chaos.max-size", 384<<10, "largest upload, in bytes")
	chunkSize = flag.Int("chaos.chunk-size", 16<<10, "BAUM_CHUNK_SIZE of the services (small: multi-chunk uploads are cheap)")
	seedFlag  = flag.Uint64("chaos.seed", 0, "random seed of contents and kill schedule (0 picks one; it is printed)")
	withRace  = flag.Bool("chaos.race", false, "build the binary with the race detector (a race then crashes a service and fails the run)")
	keepData  = flag.Bool("chaos.keep", false, "keep the data directory and the databases for inspection")
	storage   = flag.String("chaos.storage", "dir", "where the services keep stored files: dir (their data directories) or s3 (a Versity S3 gateway started for the run: one bucket, a prefix per role)")
	sweep     = flag.Bool("chaos.sweep", false, "after settling, also wait for the stalled-upload sweep to fail any upload still receiving (none should be: a killed service aborts at its next start the uploads it died sending)")
)

// The services' group prefix (BAUM_CONSUMER_GROUP_PREFIX default).
const groupPrefix = "baum"

// upload is one upload the test made and what it was told.
type upload struct {
	n       int
	name    string // unique per upload: how a held file is traced back to it
	size    int
	sha     string
	oneBits uint64
	keepers []messages.Service // what the rule says, from the bytes sent
	target  *replica           // the process that answered (or was last tried)
	refused int                // attempts that found the target down (then the next was tried)
	probe   bool               // made by recover, right after a fault
	took    time.Duration      // from the first attempt to the answer

	outcome outcome
	status  int
	err     string
	// answer is the 201 (an api.File) or 202 (an api.Upload) body, read as
	// an api.Upload, which has every field of both that the checks read.
	answer api.Upload
}

type outcome int

const (
	accepted   outcome = iota // 201 or 202
	rejected                  // any other HTTP answer (503 while a dependency restarts)
	unanswered                // the connection broke after the request started: its service was killed
	gaveUp                    // both services refused connections for too long
)

// kill is one kill the test did.
type kill struct {
	target   string // a service, or brokerTarget
	who      string // the process: the replica's name, or brokerTarget
	at       time.Duration
	graceful bool // SIGTERM first, SIGKILL during the graceful shutdown
	starting bool // killed while still starting
	// The last kill of a fault (a service killed again while starting is
	// one fault) has these: how long the restarted process took to be
	// ready (a service's /readyz, the broker's port), when that was, and
	// then how long each service took to answer a new upload 201 (-1:
	// not within recoveryDeadline).
	measured bool
	back     time.Duration
	readyAt  time.Time
	served   map[*replica]time.Duration
}

type cluster struct {
	dir      string
	dbPrefix string
	broker   *process
	brokers  []string
	// replicas are the processes of each role (-chaos.replicas), addrs
	// all of them in the order uploads go round: zeros-1, ones-1,
	// zeros-2, ….
	replicas map[messages.Service][]*replica
	addrs    []*replica
	dataDirs map[messages.Service]string
	// storedDirs hold each role's stored files: <data dir>/files/<xx>/<id>,
	// or with -chaos.storage s3 the gateway's directory of the role's
	// prefix, <bucket>/<role>/<id> (its posix backend keeps an object as a
	// file under its key).
	storedDirs map[messages.Service]string
	flatStored bool
	// env is what a role's replicas share: database, data directory and
	// the rest (each adds its port and instance).
	env map[messages.Service][]string
}

func TestChaos(t *testing.T) {
	if !*enabled {
		t.Skip("the chaos test runs only with -chaos (task chaos)")
	}
	seed := *seedFlag
	if seed == 0 {
		seed = rand.Uint64()
	}
	began := time.Now()
	c := startCluster(t)
	uploadStart := time.Now()
	t.Logf("chaos: seed %d, %d uploads × %d workers, up to %d KiB, %d KiB chunks, %d kills, %d replica(s) per role; data in %s",
		seed, *nUploads, *nWorkers, *maxSize>>10, *chunkSize>>10, *nKills, *nReplicas, c.dir)

	uploads, kills := c.run(t, seed, *nUploads, *nKills)
	uploadTime := time.Since(uploadStart)

	// Everything up, everything handled.
	for _, rep := range c.addrs {
		c.waitReady(t, rep, 2*time.Minute)
	}
	settleStart := time.Now()
	testsystem.WaitSettled(t, c.brokers, groupPrefix, 5*time.Minute)
	// Every killed service was started again and aborted the uploads it
	// died sending (its send journal): nothing may stay receiving or staged.
	left := c.leftover(t)
	left.clearedAfter = c.waitCleared(t, clearWait())
	if *sweep {
		c.waitSwept(t, 5*time.Minute)
		testsystem.WaitSettled(t, c.brokers, groupPrefix, 5*time.Minute)
	}
	settleTime := time.Since(settleStart)

	report := c.check(t, uploads, true)
	report.kills, report.left = kills, left
	if *nReplicas > 1 {
		c.checkWorkSplit(t, report)
	}
	report.print(t, seed, uploadTime, settleTime, time.Since(began))

	// After all that, a graceful stop still works.
	for _, rep := range c.addrs {
		if err := rep.p.stop(45 * time.Second); err != nil {
			t.Errorf("graceful stop: %v\n%s", err, rep.p.logTail(30))
		}
	}
	for _, p := range c.all() {
		for _, crash := range p.unexpectedExits() {
			t.Errorf("%s\n%s", crash, p.logTail(30))
		}
	}
	for _, f := range report.failures {
		t.Error(f)
	}
}

func (c *cluster) all() []*process {
	all := []*process{c.broker}
	for _, rep := range c.addrs {
		all = append(all, rep.p)
	}
	return all
}

// startCluster builds the binary and starts the broker and both services
// (-chaos.replicas processes of each), each role with its own database and
// data directory, each process with its own port.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("", "baumchaos-")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{dir: dir, dbPrefix: "baumchaos_" + randomHex(5), replicas: map[messages.Service][]*replica{},
		dataDirs: map[messages.Service]string{}, storedDirs: map[messages.Service]string{}, env: map[messages.Service][]string{}}
	t.Cleanup(func() {
		for _, p := range c.all() {
			if p != nil {
				p.kill(0)
			}
		}
		if *keepData || t.Failed() {
			t.Logf("kept %s and the databases %s_zeros, %s_ones", dir, c.dbPrefix, c.dbPrefix)
			return
		}
		testsystem.DropDatabases(t, c.dbPrefix)
		os.RemoveAll(dir)
	})

	bin := filepath.Join(dir, "baum")
	args := []string{"build", "-o", bin}
	if *withRace {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/baum-store/baum/cmd/baum")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	brokerPort := freePort(t)
	c.brokers = []string{"127.0.0.1:" + itoa(brokerPort)}
	c.broker = &process{name: "broker", bin: bin, logPath: filepath.Join(dir, "broker.log"),
		args: []string{"broker", "--port", itoa(brokerPort), "--data-dir", filepath.Join(dir, "kafka")}, env: os.Environ()}
	if err := c.broker.start(); err != nil {
		t.Fatal(err)
	}

	pg := testsystem.PostgresURL()
	for _, role := range messages.Services() {
		c.dataDirs[role] = filepath.Join(dir, string(role))
		c.env[role] = []string{
			"BAUM_DATABASE_URL=" + dbURL(pg, c.dbPrefix+"_"+string(role)),
			"BAUM_CREATE_DATABASE=true",
			"BAUM_KAFKA_BROKERS=" + c.brokers[0],
			"BAUM_CONSUMER_GROUP_PREFIX=" + groupPrefix,
			"BAUM_DATA_DIR=" + c.dataDirs[role],
			"BAUM_CHUNK_SIZE=" + itoa(*chunkSize),
			"BAUM_STALLED_UPLOAD_AFTER=1m",
			"BAUM_SHUTDOWN_TIMEOUT=20s",
			"BAUM_LOG_FORMAT=json",
			"BAUM_LOG_LEVEL=info",
		}
	}
	c.useStorage(t)
	for i := range *nReplicas {
		for _, role := range messages.Services() {
			c.startReplica(t, bin, role, i)
		}
	}
	for _, rep := range c.addrs {
		c.waitReady(t, rep, 2*time.Minute)
	}
	if *nReplicas > 1 {
		// Replicas that started one after the other: wait for the
		// rebalance that gives each a share of every topic.
		replicas := map[messages.Service]int{messages.Zeros: *nReplicas, messages.Ones: *nReplicas}
		testsystem.WaitShared(t, c.brokers, groupPrefix, replicas, 2*time.Minute)
	}
	return c
}

// clearDeadline bounds the wait, after settling, for the uploads whose
// senders were killed to be aborted and dropped everywhere.
const clearDeadline = 30 * time.Second

// stagedSweep is how often a replica removes its staged files that no
// upload needs (the service's defaultStagedSweep). With several replicas
// per role, the replica that handles an upload's decision removes only its
// own staged copy: one that staged the upload too (its chunk partition was
// elsewhere than its events partition, as after a rebalance) keeps its copy
// until its sweep.
const stagedSweep = time.Minute

// clearWait bounds the wait, after settling, until nothing is receiving or
// staged: with replicas, up to one more staged-file sweep.
func clearWait() time.Duration {
	if *nReplicas > 1 {
		return clearDeadline + stagedSweep
	}
	return clearDeadline
}

// leftover is what the services still have of uploads that never came
// through: upload rows receiving, staged files and their bytes.
type leftover struct {
	receiving, files int
	bytes            int64
	clearedAfter     time.Duration // until none was left; -1: not within clearWait()
}

func (c *cluster) leftover(t *testing.T) leftover {
	t.Helper()
	var l leftover
	for _, role := range messages.Services() {
		conn, err := pgx.Connect(t.Context(), dbURL(testsystem.PostgresURL(), c.dbPrefix+"_"+string(role)))
		if err != nil {
			t.Fatal(err)
		}
		var n int
		err = conn.QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state = 'receiving'").Scan(&n)
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		l.receiving += n
		entries, err := stagedFiles(c.dataDirs[role])
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if info, err := e.Info(); err == nil && !strings.HasPrefix(e.Name(), ".") {
				l.files++
				l.bytes += info.Size()
			}
		}
	}
	return l
}

// waitCleared waits until no upload is receiving and nothing is staged, and
// returns how long that took (-1: not within timeout).
func (c *cluster) waitCleared(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if l := c.leftover(t); l.receiving == 0 && l.files == 0 {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			return -1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitSwept waits until neither service has an upload still receiving: the
// stalled-upload sweep has failed those whose senders were killed. A service
// sweeps only once it has been up for BAUM_STALLED_UPLOAD_AFTER, and only
// uploads idle that long.
func (c *cluster) waitSwept(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := 0
		for _, role := range messages.Services() {
			conn, err := pgx.Connect(t.Context(), dbURL(testsystem.PostgresURL(), c.dbPrefix+"_"+string(role)))
			if err != nil {
				t.Fatal(err)
			}
			var n int
			err = conn.QueryRow(t.Context(), "SELECT count(*) FROM uploads WHERE state = 'receiving'").Scan(&n)
			conn.Close(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			left += n
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d uploads still receiving %s after settling: the stalled-upload sweep did not fail them", left, timeout)
		}
		time.Sleep(time.Second)
	}
}

func dbURL(server, name string) string {
	// server is postgres://user@host:port/?params
	i := bytes.IndexByte([]byte(server), '?')
	base, params := server, ""
	if i >= 0 {
		base, params = server[:i], server[i:]
	}
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + "/" + name + params
}

var client = &http.Client{Timeout: 2 * time.Minute}

func (c *cluster) waitReady(t testing.TB, rep *replica, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		res, err := client.Get(rep.url + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready within %s (%v)\n%s", rep.name, timeout, err, rep.p.logTail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// run makes the uploads while it injects faults on a schedule spread over
// them: kill -9 of zeros, of ones and of the broker in turn (from a random
// start; with replicas, each time the next replica of the role), each
// restarted after a random pause. After each restart it measures
// how soon every service answers a new upload 201 again (see recover).
// Uploads go on until the last fault is done and recovered from, so every
// fault meets uploads in flight.
func (c *cluster) run(t *testing.T, seed uint64, nUploads, nKills int) ([]*upload, []kill) {
	var (
		next       atomic.Int64
		killerDone atomic.Bool
		mu         sync.Mutex
		uploads    []*upload
		wg         sync.WaitGroup
		begin      = time.Now()
	)
	record := func(u *upload) {
		mu.Lock()
		uploads = append(uploads, u)
		mu.Unlock()
	}
	for w := 0; w < *nWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := int(next.Add(1) - 1)
				if n >= nUploads && killerDone.Load() {
					return
				}
				u := c.upload(seed, n)
				record(u)
				if u.outcome == rejected {
					time.Sleep(100 * time.Millisecond) // as a client backs off on a 503
				}
			}
		}()
	}

	r := rand.New(rand.NewPCG(seed, 0xC4A05))
	positions := make([]int, nKills)
	for i := range positions {
		positions[i] = *nWorkers + nUploads/20 + r.IntN(max(1, nUploads*9/10-*nWorkers))
	}
	slices.Sort(positions)
	first := r.IntN(len(faultTargets))
	var kills []kill
	for i, fault := 0, 0; i < len(positions); i, fault = i+1, fault+1 {
		for int(next.Load()) < positions[i] {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
		target := faultTargets[(first+fault)%len(faultTargets)]
		var done []kill
		if target == brokerTarget {
			done = []kill{c.faultBroker(t, r, begin)}
		} else {
			// Now and then it kills a service again while it starts, which
			// counts as the next kill.
			again := i+1 < len(positions) && r.IntN(5) == 0
			done = c.faultService(t, r, c.replicaToKill(messages.Service(target), seed, fault), begin, again)
			if again {
				positions = positions[:len(positions)-1]
			}
		}
		last := &done[len(done)-1]
		last.served = c.recover(t, seed, fmt.Sprintf("kill -9 of %s at %.1fs", last.who, last.at.Seconds()), last.readyAt, record)
		kills = append(kills, done...)
	}
	killerDone.Store(true)
	wg.Wait()
	slices.SortFunc(uploads, func(a, b *upload) int { return a.n - b.n })
	return uploads, kills
}

// content returns upload n's bytes: sizes from empty to several chunks, and
// bits biased to zeros, to ones, an exact tie, or fair.
func content(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	var size int
	switch x := r.IntN(100); {
	case x < 5:
		size = 0
	case x < 45:
		size = 1 + r.IntN(4<<10)
	case x < 80:
		size = 4<<10 + r.IntN(60<<10)
	default:
		size = 64<<10 + r.IntN(max(1, *maxSize-64<<10))
	}
	size = min(size, *maxSize)
	data := make([]byte, size)
	switch mode := r.IntN(10); {
	case mode < 3: // about 2 one bits a byte: zeros keeps it
		for i := range data {
			data[i] = byte(r.Uint32() & r.Uint32())
		}
	case mode < 6: // about 6 one bits a byte: ones keeps it
		for i := range data {
			data[i] = byte(r.Uint32() | r.Uint32())
		}
	case mode < 8: // an exact tie: bytes and their complements
		half := size / 2
		for i := 0; i < half; i++ {
			data[i] = byte(r.Uint32())
			data[half+i] = ^data[i]
		}
		if size%2 == 1 {
			data[size-1] = 0x5A
		}
	default: // fair coin: either side, now and then a tie
		for i := range data {
			data[i] = byte(r.Uint32())
		}
	}
	return data
}

func countOnes(data []byte) (n uint64) {
	for _, b := range data {
		n += uint64(bits.OnesCount8(b))
	}
	return n
}

// upload makes upload n to a random service (with replicas: to the next
// process, round-robin over all of both roles); if that one is down it
// tries the next, as a client behind a load balancer would.
func (c *cluster) upload(seed uint64, n int) *upload {
	data := content(seed, n)
	r := rand.New(rand.NewPCG(seed, uint64(n)^0xA11CE))
	target := c.addrs[n%len(c.addrs)]
	if *nReplicas == 1 {
		target = c.addrs[r.IntN(2)] // zeros or ones
	}
	u := newUpload(n, fmt.Sprintf("chaos-%06d.bin", n), data, target)
	c.send(u, data, true)
	return u
}

func newUpload(n int, name string, data []byte, target *replica) *upload {
	sum := sha256.Sum256(data)
	ones := countOnes(data)
	return &upload{n: n, name: name, size: len(data), sha: hex.EncodeToString(sum[:]),
		oneBits: ones, keepers: messages.Keepers(8*uint64(len(data))-ones, ones), target: target}
}

// send posts the upload to its target and records the answer and how long
// it took. With failover, a refused connection sends it to the next process
// (with one per role: the other service); without, the refusal is the
// answer.
func (c *cluster) send(u *upload, data []byte, failover bool) {
	target := u.target
	start := time.Now()
	defer func() { u.took = time.Since(start) }()
	for attempt := 0; ; attempt++ {
		status, body, err := post(target.url, u.name, data)
		switch {
		case failover && isRefused(err) && attempt < 600:
			u.refused++
			target = c.addrs[(target.index+1)%len(c.addrs)]
			time.Sleep(50 * time.Millisecond)
			continue
		case isRefused(err):
			u.outcome, u.err = gaveUp, err.Error()
		case err != nil:
			u.outcome, u.err = unanswered, err.Error()
		case status == http.StatusCreated || status == http.StatusAccepted:
			u.outcome, u.status = accepted, status
			if err := json.Unmarshal(body, &u.answer); err != nil || u.answer.ID == "" {
				u.err = fmt.Sprintf("answer without id: %s", body)
			}
		default:
			u.outcome, u.status, u.err = rejected, status, string(body)
		}
		u.target = target
		return
	}
}

func post(base, name string, data []byte) (int, []byte, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		return 0, nil, err
	}
	fw.Write(data)
	mw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/data/upload?wait=20s", &buf)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	return res.StatusCode, body, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return hex.EncodeToString(b)
}

// useStorage sets where the services keep stored files (-chaos.storage).
func (c *cluster) useStorage(t *testing.T) {
	t.Helper()
	switch *storage {
	case "dir":
		for _, role := range messages.Services() {
			c.storedDirs[role] = filepath.Join(c.dataDirs[role], "files")
		}
	case "s3":
		srv := s3test.Start(t)
		bucket := srv.Bucket(t)
		c.flatStored = true
		for _, role := range messages.Services() {
			for k, v := range srv.Env(bucket) {
				c.env[role] = append(c.env[role], k+"="+v)
			}
			c.storedDirs[role] = filepath.Join(srv.Dir, bucket, string(role))
		}
	default:
		t.Fatalf("-chaos.storage %q: want dir or s3", *storage)
	}
}
