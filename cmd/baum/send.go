package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// sendCmd sends files straight to Kafka as StoreChunk commands, through the
// public client (messages.Client over a Watermill command bus), the way any
// other Go program would, and waits for each file's placement.
func sendCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum send [flags] FILE|DIR|- ...",
		`Sends files straight to Kafka as chunk commands — no HTTP — and waits for
the services to place each one. A directory is sent with everything in it,
each file named by its path inside the directory; - reads standard input.
Prints a line per file: its state (stored, sent, failed), where it is stored,
its size, its id and its name; --json prints a JSON object per file instead.`)
	kafka := addKafkaFlags(fs, getenv)
	wait := fs.Duration("wait", 30*time.Second, "wait this long for each file's placement after its last chunk; 0 sends without waiting")
	name := fs.String("name", "", "name to store the file under (one input only; default: the file's name, \"stdin\" for -)")
	contentType := fs.String("content-type", "", "media type to store (default: from the name's extension, else sniffed from the bytes)")
	chunkSize := fs.Int("chunk-size", messages.DefaultChunkSize, fmt.Sprintf("file bytes per chunk command (1 to %d)", messages.MaxChunkSize))
	parallel := fs.Int("parallel", 4, "files sent at once")
	origin := fs.String("origin", "baum-cli", "who sent the files, as the services record it")
	asJSON := fs.Bool("json", false, "print one JSON object per file")
	progressMode := fs.String("progress", "auto", "progress bar on stderr: "+progressModes+" (auto: when stderr is a terminal)")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(paths) == 0:
		fs.Usage()
		return usagef("send: name at least one file, directory or -")
	case *name != "" && len(paths) != 1:
		return usagef("send: --name needs exactly one input, not %d", len(paths))
	case *wait < 0:
		return usagef("send: --wait %s is negative", *wait)
	case *parallel < 1:
		return usagef("send: --parallel must be at least 1")
	case *chunkSize < 1 || *chunkSize > messages.MaxChunkSize:
		return usagef("send: --chunk-size must be from 1 to %d", messages.MaxChunkSize)
	}
	kcfg, err := kafka.config()
	if err != nil {
		return err
	}

	inputs, total, errs := collectInputs(paths, *name)
	for _, err := range errs {
		fmt.Fprintln(stderr, "baum:", err)
	}
	if stdins := countStdin(inputs); stdins > 1 {
		return usagef("send: - (standard input) can be named only once")
	}
	if len(inputs) == 0 {
		return fileErrors{errs: errs, total: len(errs)}
	}

	client, err := kafkaclient.New(kcfg, messages.ClientConfig{ChunkSize: *chunkSize, Origin: *origin}, nil)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(kcfg.Brokers, ","), err)
	}
	defer client.Close()
	bar, err := newProgress(stderr, *progressMode, total, len(inputs))
	if err != nil {
		return err
	}

	s := &sender{client: client, wait: *wait, contentType: *contentType, stdin: stdin, bar: bar}
	results := make(chan sendResult)
	work := make(chan input)
	var wg sync.WaitGroup
	for range min(*parallel, len(inputs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				results <- s.send(ctx, in)
			}
		}()
	}
	go func() {
		defer close(work)
		for _, in := range inputs {
			select {
			case work <- in:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	states := map[string]int{stateError: countCollectErrors(errs)}
	var storedBytes int64
	done := 0
	for r := range results {
		done++
		bar.FileDone()
		states[r.State]++
		if r.err != nil {
			errs = append(errs, r.err)
			bar.Println(stderr, fmt.Sprintf("baum: %s: %v", r.File, r.err))
		}
		if r.State == stateStored {
			storedBytes += *r.Size
		}
		if *asJSON {
			line, _ := json.Marshal(r)
			bar.Println(stdout, string(line))
		} else if r.State != stateError {
			bar.Println(stdout, r.human())
		}
	}
	bar.Finish()
	if skipped := len(inputs) - done; skipped > 0 {
		states[stateError] += skipped
		errs = append(errs, fmt.Errorf("%d files not sent: %w", skipped, ctx.Err()))
	}
	files := len(inputs) + countCollectErrors(errs)
	if files > 1 && !*asJSON {
		var parts []string
		for _, state := range []string{stateStored, stateSent, stateFailed, stateError} {
			if states[state] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", states[state], state))
			}
		}
		fmt.Fprintf(stderr, "baum: %d files: %s; %s stored\n", files, strings.Join(parts, ", "), humanBytes(storedBytes))
	}
	if len(errs) > 0 {
		return fileErrors{errs: errs, total: files}
	}
	return nil
}

// input is one file to send.
type input struct {
	path  string // as given, or found in a directory; "-" for standard input
	name  string // the name to store
	size  int64  // -1 if unknown until read
	stdin bool
}

// collectInputs expands the arguments into files. Arguments that cannot be
// read are returned as errors; the others are still sent.
func collectInputs(paths []string, name string) (inputs []input, total int64, errs []error) {
	known := true
	add := func(in input) {
		inputs = append(inputs, in)
		if in.size < 0 {
			known = false
		} else {
			total += in.size
		}
	}
	for _, p := range paths {
		if p == "-" {
			add(input{path: "-", name: or(name, "stdin"), size: -1, stdin: true})
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			errs = append(errs, collectError{err})
			continue
		}
		if !info.IsDir() {
			size := info.Size()
			if !info.Mode().IsRegular() {
				size = -1 // a pipe or a device: read to its end
			}
			add(input{path: p, name: or(name, filepath.Base(p)), size: size})
			continue
		}
		err = filepath.WalkDir(p, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, collectError{err})
				return nil
			}
			if d.IsDir() {
				return nil
			}
			info, err := os.Stat(file) // follows a symbolic link
			if err != nil {
				errs = append(errs, collectError{err})
				return nil
			}
			if !info.Mode().IsRegular() {
				return nil // sockets, devices, links to directories: not files to store
			}
			rel, _ := filepath.Rel(p, file)
			n := filepath.ToSlash(rel)
			if name != "" {
				n = path.Join(name, n)
			}
			add(input{path: file, name: n, size: info.Size()})
			return nil
		})
		if err != nil {
			errs = append(errs, collectError{err})
		}
	}
	if !known {
		total = -1
	}
	return inputs, total, errs
}

// collectError is an argument that could not be read.
type collectError struct{ error }

func (e collectError) Unwrap() error { return e.error }

func countCollectErrors(errs []error) int {
	n := 0
	for _, err := range errs {
		if errors.As(err, new(collectError)) {
			n++
		}
	}
	return n
}

func countStdin(inputs []input) int {
	n := 0
	for _, in := range inputs {
		if in.stdin {
			n++
		}
	}
	return n
}

// The states a file can end a send in.
const (
	stateStored = "stored" // every keeper holds it
	stateSent   = "sent"   // every chunk reached Kafka; the placement was not awaited or not seen in time
	stateFailed = "failed" // the services gave it up
	stateError  = "error"  // it could not be sent
)

// sendResult is one file's outcome; with --json, one line of output.
type sendResult struct {
	File     string             `json:"file"`
	Name     string             `json:"name"`
	ID       string             `json:"id,omitempty"`
	State    string             `json:"state"`
	Size     *int64             `json:"size,omitempty"`
	SHA256   string             `json:"sha256,omitempty"`
	ZeroBits *uint64            `json:"zero_bits,omitempty"`
	OneBits  *uint64            `json:"one_bits,omitempty"`
	StoredIn []messages.Service `json:"stored_in"`
	Reason   string             `json:"reason,omitempty"` // why the services gave it up
	Error    string             `json:"error,omitempty"`
	err      error
}

func (r sendResult) human() string {
	where := "-"
	switch r.State {
	case stateStored:
		where = joinServices(r.StoredIn)
	case stateFailed:
		where = r.Reason
	}
	size := "?"
	if r.Size != nil {
		size = humanBytes(*r.Size)
	}
	return fmt.Sprintf("%-6s  %-10s  %10s  %s  %s", r.State, where, size, r.ID, r.Name)
}

type sender struct {
	client      *kafkaclient.Client
	wait        time.Duration
	contentType string
	stdin       io.Reader
	bar         *progress
}

func (s *sender) send(ctx context.Context, in input) sendResult {
	r := sendResult{File: in.path, Name: in.name, State: stateError, StoredIn: []messages.Service{}}
	fail := func(err error) sendResult {
		r.err, r.Error = err, err.Error()
		return r
	}
	var src io.Reader = s.stdin
	if !in.stdin {
		f, err := os.Open(in.path)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		src = f
	}
	body := bufio.NewReaderSize(s.bar.Reader(src), 64<<10)
	ct := s.contentType
	if ct == "" {
		ct = detectContentType(in.name, body)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fail(err)
	}
	r.ID = id.String()
	file := messages.File{UploadID: r.ID, Name: in.name, ContentType: ct}

	var watch *messages.UploadWatch
	if s.wait > 0 {
		// Before the first chunk, so that no event of the upload is missed.
		if watch, err = s.client.WatchUpload(ctx, r.ID); err != nil {
			return fail(err)
		}
		defer watch.Stop()
	}
	sent, err := s.client.Send(ctx, file, body)
	if err != nil {
		return fail(err)
	}
	r.State, r.Size, r.SHA256 = stateSent, &sent.Size, sent.SHA256
	if watch == nil {
		return r
	}
	waitCtx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	p, err := watch.Wait(waitCtx)
	if p.Keepers != nil {
		r.ZeroBits, r.OneBits = &p.ZeroBits, &p.OneBits
	}
	var failed *messages.UploadFailedError
	switch {
	case err == nil:
		r.State, r.StoredIn = stateStored, p.StoredIn
	case errors.As(err, &failed):
		r.State, r.Reason = stateFailed, failed.Event.Reason
		r.err, r.Error = err, err.Error()
	case errors.Is(err, messages.ErrNotSettled) && ctx.Err() == nil:
		err = fmt.Errorf("%w within --wait %s (GET /data/uploads/%s tells how it ends): %s", messages.ErrNotSettled, s.wait, r.ID, progressOf(p))
		r.err, r.Error = err, err.Error()
	default:
		r.err, r.Error = err, err.Error()
	}
	return r
}

func progressOf(p messages.Placement) string {
	switch {
	case p.Keepers != nil:
		return fmt.Sprintf("placed in %s, stored in %s so far", joinServices(p.Keepers), or(joinServices(p.StoredIn), "none"))
	}
	return "not counted by both services yet"
}

// detectContentType names a file's media type: from its name's extension,
// else from its first bytes (without consuming them).
func detectContentType(name string, r *bufio.Reader) string {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	head, _ := r.Peek(512) // a read error shows again when the send reads
	return http.DetectContentType(head)
}
