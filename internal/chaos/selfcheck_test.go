package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// The chaos test is only worth its zeros if its check sees breaches. This
// makes a few uploads without kills, breaks what the services hold behind
// their backs (a stored file removed, one corrupted, a files row deleted, a
// second row for one upload, a stray staged file) and expects the check to
// count each.
func TestChaosCheckCatchesBreaches(t *testing.T) {
	if !*enabled {
		t.Skip("runs only with -chaos (task chaos)")
	}
	c := startCluster(t)
	uploads, _ := c.run(t, 42, 40, 0)
	testsystem.WaitSettled(t, c.brokers, groupPrefix, 2*time.Minute)

	// Uploads zeros holds, with some bytes (a corrupted empty file is no file).
	var zeros []*upload
	for _, u := range uploads {
		if u.outcome == accepted && u.size > 0 && len(u.keepers) == 1 && u.keepers[0] == messages.Zeros {
			zeros = append(zeros, u)
		}
	}
	if len(zeros) < 5 {
		t.Fatalf("only %d uploads placed in zeros alone; need 5", len(zeros))
	}
	dir := c.dataDirs[messages.Zeros]
	stored := func(id string) string {
		if c.flatStored {
			return filepath.Join(c.storedDirs[messages.Zeros], id)
		}
		return filepath.Join(c.storedDirs[messages.Zeros], id[len(id)-2:], id)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL(testsystem.PostgresURL(), c.dbPrefix+"_zeros"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// 1. The bytes of a held file vanish: orphaned (a row without its file).
	if err := os.Remove(stored(zeros[0].answer.ID)); err != nil {
		t.Fatal(err)
	}
	// 2. A held file's bytes change: corrupt.
	f, err := os.OpenFile(stored(zeros[1].answer.ID), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xAA}, 0)
	f.Close()
	// 3. A files row goes, totals not: lost, orphaned (a file without a row), totals.
	if _, err := conn.Exec(ctx, "DELETE FROM files WHERE id = $1", zeros[2].answer.ID); err != nil {
		t.Fatal(err)
	}
	// 4. One upload held twice: duplicated, totals.
	if _, err := conn.Exec(ctx, `INSERT INTO files (id, name, content_type, size, sha256, zero_bits, one_bits, stored_at)
		SELECT $2, name, content_type, size, sha256, zero_bits, one_bits, stored_at FROM files WHERE id = $1`,
		zeros[3].answer.ID, uuid.NewString()); err != nil {
		t.Fatal(err)
	}
	// 5. A staged file nobody needs: orphaned.
	if err := os.WriteFile(filepath.Join(dir, "staging", uuid.NewString()), []byte("stray"), 0o640); err != nil {
		t.Fatal(err)
	}

	// 6. ones holds a file the rule gives to zeros alone: misplaced.
	var z struct {
		name, sha       string
		size, zero, one int64
	}
	if err := conn.QueryRow(ctx, "SELECT name, sha256, size, zero_bits, one_bits FROM files WHERE id = $1", zeros[4].answer.ID).
		Scan(&z.name, &z.sha, &z.size, &z.zero, &z.one); err != nil {
		t.Fatal(err)
	}
	ones, err := pgx.Connect(ctx, dbURL(testsystem.PostgresURL(), c.dbPrefix+"_ones"))
	if err != nil {
		t.Fatal(err)
	}
	defer ones.Close(ctx)
	if _, err := ones.Exec(ctx, `INSERT INTO files (id, name, content_type, size, sha256, zero_bits, one_bits, stored_at)
		VALUES ($1, $2, '', $3, $4, $5, $6, now())`, zeros[4].answer.ID, z.name, z.size, z.sha, z.zero, z.one); err != nil {
		t.Fatal(err)
	}

	r := c.check(t, uploads, false)
	for _, f := range r.failures {
		t.Logf("caught, as it should be: %s", f)
	}
	for what, got := range map[string]struct{ got, want int }{
		"lost":       {r.lost, 1},
		"misplaced":  {r.misplaced, 1},
		"duplicated": {r.duplicated, 1},
		"corrupt":    {r.corrupt, 1},
		"orphaned":   {r.orphaned, 5}, // 1, 3, 5, the duplicate's and ones' rows without files
		"totals":     {r.totals, 1},
	} {
		if got.got < got.want {
			t.Errorf("%s: counted %d, want at least %d", what, got.got, got.want)
		}
	}
}
