package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// progress draws one bar for a whole command on stderr, redrawn in place:
//
//	[=========>              ]  41%  41.0 MiB / 100.0 MiB  12.3 MiB/s  ETA 5s  3/10 files
//
// Lines the command prints meanwhile go through Println, which clears the bar
// first so the two never mix on a terminal.
type progress struct {
	w       io.Writer
	enabled bool
	delay   time.Duration // nothing is drawn before this much time passed
	total   int64         // bytes; -1 when some input's size is unknown (stdin)
	files   int
	start   time.Time

	bytes     atomic.Int64
	filesDone atomic.Int64

	mu    sync.Mutex // guards drawing
	shown bool
	stop  chan struct{}
	done  chan struct{}
}

// progressModes are the values of --progress.
const progressModes = "auto, always or never"

// newProgress starts a bar on w. mode "auto" draws only when w is a
// terminal and the command runs longer than half a second, so small, quick
// commands and scripts see nothing; "always" draws at once, anywhere;
// "never" draws nothing.
func newProgress(w io.Writer, mode string, total int64, files int) (*progress, error) {
	p := &progress{w: w, total: total, files: files, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	switch mode {
	case "auto":
		p.enabled, p.delay = isTerminal(w), 500*time.Millisecond
	case "always":
		p.enabled = true
	case "never":
	default:
		return nil, usagef("--progress %q is not %s", mode, progressModes)
	}
	if !p.enabled {
		close(p.done)
		return p, nil
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				p.draw(false)
			}
		}
	}()
	return p, nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Reader counts what is read from r as progress.
func (p *progress) Reader(r io.Reader) io.Reader { return &countingReader{r: r, n: &p.bytes} }

// Writer counts what is written to w as progress.
func (p *progress) Writer(w io.Writer) io.Writer { return &countingWriter{w: w, n: &p.bytes} }

// FileDone counts one more file done.
func (p *progress) FileDone() { p.filesDone.Add(1) }

// Println prints a line to out without tearing the bar.
func (p *progress) Println(out io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintln(out, line)
	if p.shown {
		p.drawLocked()
	}
}

// Finish draws the bar a last time, if it was drawn at all, and ends its line.
func (p *progress) Finish() {
	if !p.enabled {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
	p.draw(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
		p.shown = false
	}
}

func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.shown && !final && time.Since(p.start) < p.delay {
		return
	}
	if !p.shown && final && p.delay > 0 {
		return // quick enough that no bar was needed
	}
	p.shown = true
	p.drawLocked()
}

func (p *progress) drawLocked() {
	fmt.Fprint(p.w, "\r"+p.line(time.Since(p.start))+"\x1b[K")
}

// line renders the bar's text after elapsed time.
func (p *progress) line(elapsed time.Duration) string {
	n := p.bytes.Load()
	var b strings.Builder
	if p.total >= 0 {
		const width = 24
		frac := 1.0
		if p.total > 0 {
			frac = min(1, float64(n)/float64(p.total))
		}
		full := int(frac * width)
		bar := strings.Repeat("=", full)
		if full < width {
			bar += ">" + strings.Repeat(" ", width-full-1)
		}
		fmt.Fprintf(&b, "[%s] %3.0f%%  %s / %s", bar, frac*100, humanBytes(n), humanBytes(p.total))
	} else {
		fmt.Fprintf(&b, "%s", humanBytes(n))
	}
	if secs := elapsed.Seconds(); secs > 0 {
		rate := float64(n) / secs
		fmt.Fprintf(&b, "  %s/s", humanBytes(int64(rate)))
		if p.total > n && rate > 0 {
			fmt.Fprintf(&b, "  ETA %s", eta(time.Duration(float64(p.total-n)/rate*float64(time.Second))))
		}
	}
	if p.files > 1 {
		fmt.Fprintf(&b, "  %d/%d files", p.filesDone.Load(), p.files)
	}
	return b.String()
}

// eta renders the time left at the rate so far, to the second: 45s, 3m20s,
// 2h05m (hours drop the seconds).
func eta(d time.Duration) string {
	d = max(d.Round(time.Second), time.Second)
	if d >= time.Hour {
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return d.String()
}

// humanBytes renders a size for people: 512 B, 1.5 KiB, 12.3 MiB.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	f, unit := float64(n), ""
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB", "PiB"} {
		f, unit = f/1024, u
		if f < 1024 {
			break
		}
	}
	return fmt.Sprintf("%.1f %s", f, unit)
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}
