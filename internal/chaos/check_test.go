package chaos_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"

	"github.com/baum-store/baum/messages"
)

// held is a row of a service's files table.
type held struct {
	id, name, sha      string
	size               int64
	zeroBits, oneBits  int64
	diskSHA            string // of the stored bytes; "" if none on disk
	diskSize           int64
	diskOnes           uint64
	diskErr            string
	listed             bool // GET /data lists it with the same metadata
	listedDifferently  string
	onDisk, alsoStaged bool
}

// uploadRow is a row of a service's uploads table.
type uploadRow struct {
	id, state, name, stagingError, failureReason string
	staged, kept                                 bool
}

// serviceState is everything a service holds, read after settling.
type serviceState struct {
	files     map[string]*held // by id
	byName    map[string][]*held
	uploads   map[string]*uploadRow
	totalSize int64
	count     int64
	apiTotal  int64
	apiCount  int64
	apiFiles  map[string]api.File
	stored    []string // ids in files/
	staged    []string // ids in staging/
	misfiled  []string // files in files/ not at files/<last two hex digits>/<id>
}

// report is the outcome of a run: the figures, and every breach found.
type report struct {
	uploads, accepted, created, unanswered, rejected, gaveUp int
	unansweredStored                                         int // unanswered, yet placed in full: the upload was through before its service died
	refused                                                  int // attempts that found a service down
	kills                                                    []kill
	probes                                                   int // uploads made by recover
	all                                                      []*upload
	lost, misplaced, duplicated, corrupt, orphaned, totals   int
	poisoned                                                 int      // messages in the poison topic: none is malformed here, so each is a bug
	receiving                                                int      // upload rows still receiving when checked
	stalled                                                  int      // upload rows the sweep failed
	strict                                                   bool     // nothing may be left receiving or staged
	left                                                     leftover // what was still receiving or staged right after settling
	held                                                     map[messages.Service][2]int64
	replicas                                                 []*replica // with -chaos.replicas > 1: their work split
	failures                                                 []string
}

func (r *report) fail(format string, args ...any) {
	if len(r.failures) < 60 {
		r.failures = append(r.failures, fmt.Sprintf(format, args...))
	}
}

// check compares what the services hold with what was uploaded and what
// they answered. Definitions (docs/invariants.md, "The chaos test"):
//
//   - lost: an accepted upload (201/202) that a service the rule names does
//     not hold, or whose upload state is not "placed"; or an unanswered
//     upload that one keeper holds and another does not.
//   - misplaced: a file held by a service the rule does not name, an
//     upload refused with an error answer that is held anyway, a 201 whose
//     stored_in or id disagrees, or a held file that traces back to no upload.
//   - duplicated: one upload held more than once by one service.
//   - corrupt: held bytes that do not hash to the SHA-256 taken at upload, or
//     metadata (size, bit counts) that disagrees with the bytes sent.
//   - orphaned: a stored file without a files row, a files row without its
//     stored file, a stored file also left in staging, a staged file whose
//     upload row does not still wait for chunks, an upload row stuck in
//     "counting" with nothing left to handle.
//     An upload row in "receiving" with its staged file belongs to an
//     upload whose sender died mid-upload (its service was killed); it must
//     not be accepted. The killed service, started again, aborts it (its
//     send journal), so when strict (the chaos run: every killed service is
//     started again), any row still receiving and any staged file at all is
//     an orphan.
//   - totals: a service whose totals differ from the sum and number of the
//     files it lists, or whose list differs from its files table.
//   - poisoned: a message in the poison topic. Every message of the run is
//     valid, so a poisoned one is a handler failing for good where it should
//     have succeeded or retried.
func (c *cluster) check(t *testing.T, uploads []*upload, strict bool) *report {
	r := &report{held: map[messages.Service][2]int64{}, strict: strict}
	r.poisoned = c.poisoned(t)
	if r.poisoned > 0 {
		r.fail("poisoned: %d messages in %s; see the services' \"message poisoned\" log lines", r.poisoned, messages.TopicPoison)
	}
	states := map[messages.Service]*serviceState{}
	for _, role := range messages.Services() {
		states[role] = c.read(t, role)
	}

	byName := map[string]*upload{}
	r.all = uploads
	for _, u := range uploads {
		byName[u.name] = u
		r.uploads++
		if u.probe {
			r.probes++
		}
		r.refused += u.refused
		switch u.outcome {
		case accepted:
			r.accepted++
			if u.status == http.StatusCreated {
				r.created++
			}
		case unanswered:
			r.unanswered++
		case rejected:
			r.rejected++
		case gaveUp:
			r.gaveUp++
		}
	}

	// Every upload against what the services hold.
	for _, u := range uploads {
		holders := map[messages.Service]*held{}
		for _, role := range messages.Services() {
			hs := states[role].byName[u.name]
			if len(hs) > 1 {
				r.duplicated += len(hs) - 1
				r.fail("duplicated: %s holds upload %s %d times", role, u.name, len(hs))
			}
			if len(hs) > 0 {
				holders[role] = hs[0]
			}
		}
		missing := slices.DeleteFunc(slices.Clone(u.keepers), func(k messages.Service) bool { return holders[k] != nil })
		var extra []messages.Service
		for role := range holders {
			if !slices.Contains(u.keepers, role) {
				extra = append(extra, role)
			}
		}
		switch u.outcome {
		case accepted:
			if len(missing) > 0 {
				r.lost++
				r.fail("lost: accepted upload %s (%d, id %s, %d bytes, keepers %v) is not held by %v", u.name, u.status, u.answer.ID, u.size, u.keepers, missing)
			} else if st := c.uploadState(u); st != "placed" {
				r.lost++
				r.fail("lost: accepted upload %s (id %s) is held but its state at %s is %q", u.name, u.answer.ID, u.target.name, st)
			}
			for _, h := range holders {
				if h.id != u.answer.ID {
					r.misplaced++
					r.fail("misplaced: upload %s was answered with id %s but is held as %s", u.name, u.answer.ID, h.id)
					break
				}
			}
			if u.status == http.StatusCreated && !slices.Equal(u.answer.StoredIn, u.keepers) {
				r.misplaced++
				r.fail("misplaced: upload %s was answered 201 with stored_in %v; the rule says %v", u.name, u.answer.StoredIn, u.keepers)
			}
			if u.status == http.StatusCreated && (u.answer.SHA256 != u.sha || u.answer.Size == nil || *u.answer.Size != int64(u.size) ||
				u.answer.OneBits == nil || *u.answer.OneBits != u.oneBits || u.answer.ZeroBits == nil || *u.answer.ZeroBits != 8*uint64(u.size)-u.oneBits) {
				r.corrupt++
				r.fail("corrupt: the 201 answer of %s disagrees with the bytes sent: %+v", u.name, u.answer)
			}
		case unanswered:
			if len(holders) > 0 && len(missing) > 0 {
				r.lost++
				r.fail("lost: unanswered upload %s is held by %v but not by keeper %v", u.name, mapKeys(holders), missing)
			} else if len(holders) > 0 {
				r.unansweredStored++
			}
		default:
			if len(holders) > 0 {
				r.misplaced++
				r.fail("misplaced: upload %s was refused (%d %s) but is held by %v", u.name, u.status, strings.TrimSpace(u.err), mapKeys(holders))
			}
		}
		if len(extra) > 0 {
			r.misplaced++
			r.fail("misplaced: upload %s (%d one bits of %d) is held by %v; the rule says %v", u.name, u.oneBits, 8*u.size, extra, u.keepers)
		}
		for role, h := range holders {
			switch {
			case h.sha != u.sha || h.size != int64(u.size) || h.oneBits != int64(u.oneBits) || h.zeroBits != int64(8*uint64(u.size)-u.oneBits):
				r.corrupt++
				r.fail("corrupt: %s's metadata of %s (size %d, sha %s, bits %d/%d) disagrees with the bytes sent (size %d, sha %s, one bits %d)",
					role, u.name, h.size, h.sha, h.zeroBits, h.oneBits, u.size, u.sha, u.oneBits)
			case h.onDisk && (h.diskSHA != u.sha || h.diskSize != int64(u.size) || h.diskOnes != u.oneBits):
				r.corrupt++
				r.fail("corrupt: %s's stored bytes of %s hash to %s (%d bytes), want %s (%d bytes) %s", role, u.name, h.diskSHA, h.diskSize, u.sha, u.size, h.diskErr)
			}
		}
	}

	for _, role := range messages.Services() {
		s := states[role]
		r.held[role] = [2]int64{s.count, s.totalSize}
		// Held files nobody uploaded.
		for name, hs := range s.byName {
			if byName[name] == nil {
				r.misplaced += len(hs)
				r.fail("misplaced: %s holds %d file(s) named %q that no upload sent", role, len(hs), name)
			}
		}
		// Totals and the list.
		var sum int64
		for _, h := range s.files {
			sum += h.size
			if !h.listed {
				r.totals++
				r.fail("totals: %s's GET /data does not list %s as its files row says: %s", role, h.id, h.listedDifferently)
			}
		}
		if s.totalSize != sum || s.count != int64(len(s.files)) {
			r.totals++
			r.fail("totals: %s's totals say %d bytes in %d files; its files table has %d bytes in %d", role, s.totalSize, s.count, sum, len(s.files))
		}
		if s.apiTotal != s.totalSize || s.apiCount != s.count || len(s.apiFiles) != len(s.files) {
			r.totals++
			r.fail("totals: %s's GET /data says %d bytes in %d files and lists %d; the database has %d bytes in %d",
				role, s.apiTotal, s.apiCount, len(s.apiFiles), s.totalSize, s.count)
		}
		c.checkReplicasAgree(t, r, role, s)
		// Orphans.
		for _, h := range s.files {
			if !h.onDisk {
				r.orphaned++
				r.fail("orphaned: %s has a files row for %s (%s) but no stored file", role, h.id, h.name)
			}
			if h.alsoStaged {
				r.orphaned++
				r.fail("orphaned: %s's stored file %s is also still in staging", role, h.id)
			}
		}
		for _, id := range s.stored {
			if s.files[id] == nil {
				r.orphaned++
				r.fail("orphaned: %s has a stored file %s without a files row (upload row: %+v)", role, id, s.uploads[id])
			}
		}
		for _, p := range s.misfiled {
			r.orphaned++
			r.fail("orphaned: %s has %s in the wrong place", role, p)
		}
		for _, id := range s.staged {
			u := s.uploads[id]
			switch {
			case s.files[id] != nil:
				// counted above
			case u == nil:
				r.orphaned++
				r.fail("orphaned: %s has a staged file %s without an upload row", role, id)
			case u.state != "receiving" || u.staged || u.stagingError != "":
				r.orphaned++
				r.fail("orphaned: %s has a staged file %s whose upload no longer needs it: %+v", role, id, *u)
			case strict:
				r.orphaned++
				r.fail("orphaned: %s has a staged file %s after settling (its sender was started again and should have aborted it): %+v", role, id, *u)
			}
		}
		for _, u := range s.uploads {
			switch u.state {
			case "failed":
				if u.failureReason == "stalled" {
					r.stalled++
				}
			case "counting":
				r.orphaned++
				r.fail("orphaned: %s's upload %s (%s) is stuck in counting with nothing left to handle", role, u.id, u.name)
			case "receiving":
				r.receiving++
				if strict {
					r.orphaned++
					r.fail("orphaned: %s's upload %s (%s) is still receiving after settling (its sender was started again and should have aborted it)", role, u.id, u.name)
				}
				if up := byName[u.name]; up != nil && up.outcome == accepted {
					r.lost++
					r.fail("lost: %s's accepted upload %s is still receiving", role, u.name)
				}
			}
		}
	}
	return r
}

// poisoned counts the messages in the poison topic.
func (c *cluster) poisoned(t *testing.T) int {
	t.Helper()
	config := sarama.NewConfig()
	config.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(c.brokers, config)
	if err != nil {
		t.Fatalf("poison topic: %v", err)
	}
	defer client.Close()
	partitions, err := client.Partitions(messages.TopicPoison)
	if err != nil {
		t.Fatalf("poison topic: %v", err)
	}
	n := 0
	for _, p := range partitions {
		newest, err := client.GetOffset(messages.TopicPoison, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("poison topic: %v", err)
		}
		oldest, err := client.GetOffset(messages.TopicPoison, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("poison topic: %v", err)
		}
		n += int(newest - oldest)
	}
	return n
}

// uploadState asks the service that accepted an upload where it stands.
func (c *cluster) uploadState(u *upload) string {
	res, err := client.Get(u.target.url + "/data/uploads/" + u.answer.ID)
	if err != nil {
		return err.Error()
	}
	defer res.Body.Close()
	var v api.Upload
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		return fmt.Sprintf("HTTP %d: %v", res.StatusCode, err)
	}
	if v.State == "placed" && (!slices.Equal(v.PlacedIn, u.keepers) || !slices.Equal(v.StoredIn, u.keepers)) {
		return fmt.Sprintf("placed in %v, stored in %v", v.PlacedIn, v.StoredIn)
	}
	return v.State
}

// read collects a service's database rows, its API listing and its disk.
func (c *cluster) read(t *testing.T, role messages.Service) *serviceState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL(testsystem.PostgresURL(), c.dbPrefix+"_"+string(role)))
	if err != nil {
		t.Fatalf("connect to %s's database: %v", role, err)
	}
	defer conn.Close(ctx)
	s := &serviceState{files: map[string]*held{}, byName: map[string][]*held{}, uploads: map[string]*uploadRow{}, apiFiles: map[string]api.File{}}

	rows, _ := conn.Query(ctx, "SELECT id::text, name, size, sha256, zero_bits, one_bits FROM files")
	var h held
	if _, err := pgx.ForEachRow(rows, []any{&h.id, &h.name, &h.size, &h.sha, &h.zeroBits, &h.oneBits}, func() error {
		f := h
		s.files[f.id] = &f
		s.byName[f.name] = append(s.byName[f.name], &f)
		return nil
	}); err != nil {
		t.Fatalf("%s files: %v", role, err)
	}
	rows, _ = conn.Query(ctx, "SELECT id::text, state, name, staged, staging_error, kept, failure_reason FROM uploads")
	var u uploadRow
	if _, err := pgx.ForEachRow(rows, []any{&u.id, &u.state, &u.name, &u.staged, &u.stagingError, &u.kept, &u.failureReason}, func() error {
		row := u
		s.uploads[row.id] = &row
		return nil
	}); err != nil {
		t.Fatalf("%s uploads: %v", role, err)
	}
	if err := conn.QueryRow(ctx, "SELECT total_size, count FROM totals").Scan(&s.totalSize, &s.count); err != nil {
		t.Fatalf("%s totals: %v", role, err)
	}

	// The API, every page, from the role's first replica (the others must
	// list the same: checkReplicasAgree).
	s.apiTotal, s.apiCount, s.apiFiles = listAPI(t, c.replicas[role][0])
	for id, f := range s.files {
		a, ok := s.apiFiles[id]
		switch {
		case !ok:
			f.listedDifferently = "not listed"
		case a.Name != f.name || a.Size != f.size || a.SHA256 != f.sha || int64(a.ZeroBits) != f.zeroBits || int64(a.OneBits) != f.oneBits:
			f.listedDifferently = fmt.Sprintf("listed as %+v", a)
		default:
			f.listed = true
		}
	}

	// The disk: data/<role>/staging/<instance>/<id> and the stored files
	// (c.storedDirs).
	dir := c.dataDirs[role]
	entries, err := stagedFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") {
			s.staged = append(s.staged, e.Name())
		}
	}
	err = filepath.WalkDir(c.storedDirs[role], func(path string, e fs.DirEntry, err error) error {
		switch {
		case errors.Is(err, fs.ErrNotExist) && path == c.storedDirs[role]:
			return nil // nothing stored yet (a bucket's prefix is made by its first object)
		case err != nil || e.IsDir():
			return err
		}
		id := e.Name()
		if c.flatStored && strings.HasPrefix(id, ".") {
			return nil // the gateway's own files
		}
		if len(id) < 2 || !c.flatStored && filepath.Base(filepath.Dir(path)) != id[len(id)-2:] {
			s.misfiled = append(s.misfiled, path)
			return nil
		}
		s.stored = append(s.stored, id)
		if f := s.files[id]; f != nil {
			f.onDisk = true
			f.diskSHA, f.diskSize, f.diskOnes, err = hashFile(path)
			if err != nil {
				f.diskErr = err.Error()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range s.staged {
		if f := s.files[id]; f != nil {
			f.alsoStaged = true
		}
	}
	return s
}

// listAPI reads GET /data of a process, every page: the totals of the
// first page and the files of all.
func listAPI(t *testing.T, rep *replica) (total, count int64, files map[string]api.File) {
	t.Helper()
	files = map[string]api.File{}
	after := ""
	for page := 0; ; page++ {
		res, err := client.Get(rep.url + "/data?limit=1000" + after)
		if err != nil {
			t.Fatalf("GET /data on %s: %v", rep.name, err)
		}
		var v api.FileList
		err = json.NewDecoder(res.Body).Decode(&v)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /data on %s: %d %v", rep.name, res.StatusCode, err)
		}
		if page == 0 {
			total, count = v.TotalSize, v.Count
		}
		for id, f := range v.ListMetadata {
			files[id] = f
		}
		if v.Next == nil {
			return total, count, files
		}
		after = "&after=" + *v.Next
	}
}

func hashFile(path string) (string, int64, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	h := sha256.New()
	var ones uint64
	buf := make([]byte, 64<<10)
	var size int64
	for {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		for _, b := range buf[:n] {
			ones += uint64(bits.OnesCount8(b))
		}
		size += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", 0, 0, err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), size, ones, nil
}

func mapKeys(m map[messages.Service]*held) []messages.Service {
	var out []messages.Service
	for _, role := range messages.Services() {
		if m[role] != nil {
			out = append(out, role)
		}
	}
	return out
}

// print writes the figures as tables: the invariants (the goal is zero in
// every column from "lost" on), the recovery after each kind of fault, and
// the answer times of the whole run.
func (r *report) print(t *testing.T, seed uint64, uploadTime, settleTime, total time.Duration) {
	graceful, starting := 0, 0
	var killed []string
	for _, k := range r.kills {
		what := k.who
		switch {
		case k.graceful:
			graceful++
			what += " (in graceful shutdown)"
		case k.starting:
			starting++
			what += " (while starting)"
		}
		killed = append(killed, fmt.Sprintf("%s at %.1fs", what, k.at.Seconds()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nchaos run, seed %d: uploads for %.1fs, settled in %.1fs, %.1fs in all\n", seed, uploadTime.Seconds(), settleTime.Seconds(), total.Seconds())
	fmt.Fprintf(&b, "kills: %s\n\n", strings.Join(killed, ", "))
	fmt.Fprintf(&b, "| uploads | accepted | kills | lost | misplaced | duplicated | corrupt | orphaned | totals | poisoned |\n")
	fmt.Fprintf(&b, "|--------:|---------:|------:|-----:|----------:|-----------:|--------:|---------:|-------:|---------:|\n")
	fmt.Fprintf(&b, "| %7d | %8d | %5d | %4d | %9d | %10d | %7d | %8d | %6d | %8d |\n\n",
		r.uploads, r.accepted, len(r.kills), r.lost, r.misplaced, r.duplicated, r.corrupt, r.orphaned, r.totals, r.poisoned)
	recovery := recoveryTable(&b, r.kills)
	b.WriteString("\n")
	latencyTable(&b, r.all)
	b.WriteString("\n")
	if len(r.replicas) > 0 {
		b.WriteString("messages handled per replica (baum_watermill_handler_execution_time_seconds_count by handler_name, summed over its runs):\n\n")
		workSplitTable(&b, r.replicas)
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "accepted: %d, %d answered 201, %d answered 202; not accepted: %d unanswered (their service was killed; %d of them were placed in full anyway), %d refused with an error answer, %d gave up\n",
		r.accepted, r.created, r.accepted-r.created, r.unanswered, r.unansweredStored, r.rejected, r.gaveUp)
	fmt.Fprintf(&b, "of those, %d were probes of the recovery; kills: %d plain SIGKILL, %d during a graceful shutdown, %d while starting; %d upload attempts found their service down and went to the other\n",
		r.probes, len(r.kills)-graceful-starting, graceful, starting, r.refused)
	for _, role := range messages.Services() {
		fmt.Fprintf(&b, "%s holds %d files, %d bytes\n", role, r.held[role][0], r.held[role][1])
	}
	fmt.Fprintf(&b, "right after settling: %d upload rows receiving, %d staged files (%d bytes); nothing receiving or staged %s later; at the check: %d receiving, %d failed as stalled by the sweep\n",
		r.left.receiving, r.left.files, r.left.bytes, fmtWait(r.left.clearedAfter), r.receiving, r.stalled)
	t.Log(b.String())
	if n := r.lost + r.misplaced + r.duplicated + r.corrupt + r.orphaned + r.totals + r.poisoned; n > 0 {
		t.Errorf("%d breaches of the invariants", n)
	}
	for _, f := range recovery {
		t.Error(f)
	}
}

// stagedFiles lists what every instance of a role stages in its data
// directory (staging/<instance>/<id>).
func stagedFiles(dataDir string) ([]fs.DirEntry, error) {
	instances, err := os.ReadDir(filepath.Join(dataDir, "staging"))
	if err != nil {
		return nil, err
	}
	var out []fs.DirEntry
	for _, in := range instances {
		if !in.IsDir() {
			out = append(out, in) // left at the top: staged by no instance
			continue
		}
		entries, err := os.ReadDir(filepath.Join(dataDir, "staging", in.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, entries...)
	}
	return out, nil
}
