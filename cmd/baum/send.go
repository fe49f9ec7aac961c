package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// sendCmd sends files straight to Kafka as StoreChunk commands, through the
// public client (messages.Client over a Watermill command bus), the way any
// other Go program would, and waits for each file's placement.
func sendCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseSendFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	kcfg, err := opts.kafka.config()
	if err != nil {
		return err
	}

	inputs, total, errs := collectInputs(opts.paths, opts.name)
	for _, err := range errs {
		fmt.Fprintln(stderr, "baum:", err)
	}
	if stdins := countStdin(inputs); stdins > 1 {
		return usagef("send: - (standard input) can be named only once")
	}
	if len(inputs) == 0 {
		return fileErrors{errs: errs, total: len(errs)}
	}

	client, err := kafkaclient.New(kcfg, messages.ClientConfig{ChunkSize: opts.chunkSize, Origin: opts.origin}, nil)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(kcfg.Brokers, ","), err)
	}
	defer client.Close()
	bar, err := newProgress(stderr, opts.progressMode, total, len(inputs))
	if err != nil {
		return err
	}

	s := &sender{client: client, wait: opts.wait, contentType: opts.contentType, stdin: stdin, bar: bar}
	report := newSendReport(stdout, stderr, bar, opts.asJSON, errs)
	for r := range s.sendAll(ctx, inputs, opts.parallel) {
		report.add(r)
	}
	return report.finish(ctx, len(inputs))
}

// sendOptions are baum send's flags and arguments.
type sendOptions struct {
	kafka        *kafkaFlags
	wait         time.Duration
	name         string
	contentType  string
	chunkSize    int
	parallel     int
	origin       string
	asJSON       bool
	progressMode string
	paths        []string
}

func parseSendFlags(args []string, getenv func(string) string, stderr io.Writer) (sendOptions, error) {
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flagUsage(fs, "baum send [flags] FILE|DIR|- ...",
		`Sends files straight to Kafka as chunk commands — no HTTP — and waits for
the services to place each one. A directory is sent with everything in it,
each file named by its path inside the directory; - reads standard input.
Prints a line per file: its state (stored, sent, failed), where it is stored,
its size, its id and its name; --json prints a JSON object per file instead.`)
	o := sendOptions{kafka: addKafkaFlags(fs, getenv)}
	fs.DurationVar(&o.wait, "wait", 30*time.Second, "wait this long for each file's placement after its last chunk; 0 sends without waiting")
	fs.StringVar(&o.name, "name", "", "name to store the file under (one input only; default: the file's name, \"stdin\" for -)")
	fs.StringVar(&o.contentType, "content-type", "", "media type to store (default: from the name's extension, else sniffed from the bytes)")
	fs.IntVar(&o.chunkSize, "chunk-size", messages.DefaultChunkSize, fmt.Sprintf("file bytes per chunk command (1 to %d)", messages.MaxChunkSize))
	fs.IntVar(&o.parallel, "parallel", 4, "files sent at once")
	fs.StringVar(&o.origin, "origin", "baum-cli", "who sent the files, as the services record it")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON object per file")
	fs.StringVar(&o.progressMode, "progress", "auto", "progress bar on stderr: "+progressModes+" (auto: when stderr is a terminal)")
	paths, err := parseArgs(fs, args)
	if err != nil {
		return o, err
	}
	o.paths = paths
	switch {
	case len(paths) == 0:
		fs.Usage()
		return o, usagef("send: name at least one file, directory or -")
	case o.name != "" && len(paths) != 1:
		return o, usagef("send: --name needs exactly one input, not %d", len(paths))
	case o.wait < 0:
		return o, usagef("send: --wait %s is negative", o.wait)
	case o.parallel < 1:
		return o, usagef("send: --parallel must be at least 1")
	case o.chunkSize < 1 || o.chunkSize > messages.MaxChunkSize:
		return o, usagef("send: --chunk-size must be from 1 to %d", messages.MaxChunkSize)
	}
	return o, nil
}

// sendAll sends the inputs, parallel at once, and returns their outcomes as
// they come; the channel closes once every file is through or, when ctx
// ends, every file started is.
func (s *sender) sendAll(ctx context.Context, inputs []input, parallel int) <-chan sendResult {
	results := make(chan sendResult)
	work := make(chan input)
	var wg sync.WaitGroup
	for range min(parallel, len(inputs)) {
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
	return results
}

// sendReport prints each file's outcome as it comes and, at the end, the
// summary; it gathers the errors for the exit code.
type sendReport struct {
	stdout, stderr io.Writer
	bar            *progress
	asJSON         bool
	errs           []error
	states         map[string]int
	storedBytes    int64
	done           int
}

// newSendReport starts a report on the files whose arguments could not be
// read (errs, already printed).
func newSendReport(stdout, stderr io.Writer, bar *progress, asJSON bool, errs []error) *sendReport {
	return &sendReport{stdout: stdout, stderr: stderr, bar: bar, asJSON: asJSON, errs: errs,
		states: map[string]int{stateError: countCollectErrors(errs)}}
}

func (rep *sendReport) add(r sendResult) {
	rep.done++
	rep.bar.FileDone()
	rep.states[r.State]++
	if r.err != nil {
		rep.errs = append(rep.errs, r.err)
		rep.bar.Println(rep.stderr, fmt.Sprintf("baum: %s: %v", r.File, r.err))
	}
	if r.State == stateStored {
		rep.storedBytes += *r.Size
	}
	if rep.asJSON {
		line, _ := json.Marshal(r)
		rep.bar.Println(rep.stdout, string(line))
	} else if r.State != stateError {
		rep.bar.Println(rep.stdout, r.human())
	}
}

// finish ends the progress bar, counts the inputs never sent (ctx ended) as
// errors, prints the summary of a send of many files and returns the
// failures.
func (rep *sendReport) finish(ctx context.Context, inputs int) error {
	rep.bar.Finish()
	if skipped := inputs - rep.done; skipped > 0 {
		rep.states[stateError] += skipped
		rep.errs = append(rep.errs, fmt.Errorf("%d files not sent: %w", skipped, ctx.Err()))
	}
	files := inputs + countCollectErrors(rep.errs)
	if files > 1 && !rep.asJSON {
		var parts []string
		for _, state := range []string{stateStored, stateSent, stateFailed, stateError} {
			if rep.states[state] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", rep.states[state], state))
			}
		}
		fmt.Fprintf(rep.stderr, "baum: %d files: %s; %s stored\n", files, strings.Join(parts, ", "), humanBytes(rep.storedBytes))
	}
	if len(rep.errs) > 0 {
		return fileErrors{errs: rep.errs, total: files}
	}
	return nil
}
