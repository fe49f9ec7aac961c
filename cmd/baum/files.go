package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// lsCmd lists the files the services hold, through their HTTP APIs.
func lsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ls", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum ls [flags]",
		`Lists the files the services hold (GET /data, every page), each once, with
the services that store it, then each service's totals. --json prints each
file's metadata as a JSON object per line instead.`)
	svcFlags := addServiceFlags(fs, getenv)
	asJSON := fs.Bool("json", false, "print one JSON object per file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	services, err := svcFlags.services()
	if err != nil {
		return err
	}
	a, err := newAPI(svcFlags)
	if err != nil {
		return err
	}
	files, totals, err := a.listAll(ctx, services)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, f := range files {
			if err := enc.Encode(f); err != nil {
				return err
			}
		}
		return nil
	}
	return printListing(stdout, files, services, totals)
}

// listAll lists the files of every service, each once (as the last service
// that holds it shows it), oldest first, and each service's totals.
func (a *apiClient) listAll(ctx context.Context, services []messages.Service) ([]api.File, map[messages.Service]api.FileList, error) {
	byID := map[string]api.File{}
	totals := map[messages.Service]api.FileList{}
	for _, svc := range services {
		files, first, err := a.list(ctx, svc)
		if err != nil {
			return nil, nil, err
		}
		totals[svc] = first
		for _, f := range files {
			byID[f.ID] = f
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids) // ids are time-ordered UUIDs: oldest first
	files := make([]api.File, len(ids))
	for i, id := range ids {
		files[i] = byID[id]
	}
	return files, totals, nil
}

// printListing prints a table of the files, then each service's totals.
func printListing(stdout io.Writer, files []api.File, services []messages.Service, totals map[messages.Service]api.FileList) error {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTORED IN\tSIZE\tSTORED AT\tNAME")
	for _, f := range files {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.ID, joinServices(f.StoredIn), humanBytes(f.Size),
			f.StoredAt.Local().Format(time.DateTime), printable(f.Name))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var sums []string
	for _, svc := range services {
		t := totals[svc]
		sums = append(sums, fmt.Sprintf("%s holds %s, %s", svc, plural(t.Count, "file"), humanBytes(t.TotalSize)))
	}
	fmt.Fprintln(stdout, strings.Join(sums, "; "))
	return nil
}

// getCmd downloads a file, or prints its metadata, through the HTTP API of
// a service that holds it.
func getCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum get [flags] ID",
		`Downloads the file ID from a service that holds it, checking its size and
SHA-256, to standard output or to -o FILE (written whole or not at all; a
directory gets the file under its stored name). --meta prints its metadata
as JSON instead.`)
	svcFlags := addServiceFlags(fs, getenv)
	out := fs.String("o", "-", "write to this file, or into this directory under the file's name; - is standard output")
	meta := fs.Bool("meta", false, "print the file's metadata (JSON) instead of its bytes")
	progressMode := fs.String("progress", "auto", "progress bar on stderr: "+progressModes)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID("get", rest)
	if err != nil {
		return err
	}
	services, err := svcFlags.services()
	if err != nil {
		return err
	}
	a, err := newAPI(svcFlags)
	if err != nil {
		return err
	}
	if !*meta && *out == "-" && isTerminal(stdout) {
		return usagef("get: not writing a file's bytes to a terminal; use -o FILE or redirect the output")
	}
	f, held, err := a.holders(ctx, services, id)
	if err != nil {
		return err
	}
	if *meta {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(f)
	}
	body, err := a.content(ctx, held[0], id)
	if err != nil {
		return err
	}
	defer body.Close()
	bar, err := newProgress(stderr, *progressMode, f.Size, 1)
	if err != nil {
		return err
	}
	defer bar.Finish()
	if *out == "-" {
		return copyVerified(bar.Writer(stdout), body, f)
	}
	return writeFileVerified(*out, bar, body, f)
}

// copyVerified copies the body and checks it is the file the metadata
// describes: a cut-off or corrupted download is an error, not a file.
func copyVerified(w io.Writer, body io.Reader, f api.File) error {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), body)
	if err != nil {
		return fmt.Errorf("download %s: %w", f.ID, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return fmt.Errorf("download %s: got %d bytes with SHA-256 %s, want %d bytes with %s", f.ID, n, sum, f.Size, f.SHA256)
	}
	return nil
}

// writeFileVerified writes the body to a temporary file beside the target
// and renames it into place only once it checked out.
func writeFileVerified(target string, bar *progress, body io.Reader, f api.File) error {
	if info, err := os.Stat(target); err == nil && info.IsDir() {
		target = filepath.Join(target, localName(f))
	}
	tmp, err := createTemp(filepath.Dir(target))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := copyVerified(bar.Writer(tmp), body, f); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), target)
}

// createTemp creates a new file for a download in dir. Unlike
// os.CreateTemp (0600), it asks for 0666, so that the file gets the
// permissions the user's umask gives any new file, as curl -o or cp would.
func createTemp(dir string) (*os.File, error) {
	for range 100 {
		f, err := os.OpenFile(filepath.Join(dir, ".baum-get-"+strconv.FormatUint(rand.Uint64(), 36)), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("cannot create a temporary file in %s", dir)
}

// localName is a safe file name for a stored file: its stored name cut to
// its last element (names are the clients' and may be anything), else its id.
func localName(f api.File) string {
	name := f.Name
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		return f.ID
	}
	return name
}

// rmCmd deletes a file from every service that holds it: it asks each
// service over HTTP whether it holds the file, then sends DeleteFile commands
// over Kafka and waits for the confirmations.
func rmCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum rm [flags] ID",
		`Deletes the file ID from the services that hold it (found through GET
/data/{id}): sends them DeleteFile commands over Kafka and waits until each
confirmed.`)
	svcFlags := addServiceFlags(fs, getenv)
	kafka := addKafkaFlags(fs, getenv)
	wait := fs.Duration("wait", 30*time.Second, "wait this long for the services to confirm; 0 does not wait")
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	id, err := oneID("rm", rest)
	if err != nil {
		return err
	}
	services, err := svcFlags.services()
	if err != nil {
		return err
	}
	if *wait < 0 {
		return usagef("rm: --wait %s is negative", *wait)
	}
	kcfg, err := kafka.config()
	if err != nil {
		return err
	}
	a, err := newAPI(svcFlags)
	if err != nil {
		return err
	}
	_, held, err := a.holders(ctx, services, id)
	if err != nil {
		return err
	}
	client, err := kafkaclient.New(kcfg, messages.ClientConfig{}, nil)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(kcfg.Brokers, ","), err)
	}
	defer client.Close()
	if *wait == 0 {
		if err := client.Delete(ctx, id, held...); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "asked %s to delete %s\n", joinServices(held), id)
		return nil
	}
	return deleteAndConfirm(ctx, client, id, held, *wait, stdout)
}

// deleteAndConfirm deletes the file from the services that hold it and
// waits up to wait for their confirmations; it prints who confirmed.
func deleteAndConfirm(ctx context.Context, client *kafkaclient.Client, id string, held []messages.Service, wait time.Duration, stdout io.Writer) error {
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	confirmed, err := client.DeleteAndWait(waitCtx, id, held...)
	var by []messages.Service
	for _, e := range confirmed {
		by = append(by, e.Service)
	}
	if len(by) > 0 {
		slices.SortFunc(by, func(a, b messages.Service) int {
			return slices.Index(messages.Services(), a) - slices.Index(messages.Services(), b)
		})
		fmt.Fprintf(stdout, "deleted %s from %s\n", id, joinServices(by))
	}
	return err
}

// oneID checks that args is exactly one file id.
func oneID(cmd string, args []string) (string, error) {
	if len(args) != 1 {
		return "", usagef("%s: name exactly one file id", cmd)
	}
	u, err := uuid.Parse(args[0])
	if err != nil || len(args[0]) != 36 {
		return "", usagef("%s: %q is not a file id (a UUID)", cmd, args[0])
	}
	return u.String(), nil // ids are kept lowercase; any case names them
}

func plural(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printable keeps a client's file name from moving the terminal's cursor.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
