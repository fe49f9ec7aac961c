package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// row is one line of the table.
type row struct {
	part, figure, value, spread, note string
}

// unit formats a figure's values.
type unit struct{ format, suffix string }

var (
	gbps   = unit{"%.1f", " GB/s"}
	mbps   = unit{"%.0f", " MB/s"}
	perSec = unit{"%.0f", " /s"}
	msec   = unit{"%.1f", " ms"}
	msec2  = unit{"%.2f", " ms"}
	mibFmt = unit{"%.1f", " MiB"}
	secs   = unit{"%.2f", " s"}
	plain  = unit{"%.2f", ""}
)

// add records a figure measured len(vals) times: its median, and the range.
func (b *bench) add(part, figure string, vals []float64, u unit, note string) {
	if len(vals) == 0 {
		b.rows = append(b.rows, row{part, figure, "n/a", "", note})
		return
	}
	value := fmt.Sprintf(u.format, median(vals)) + u.suffix
	spread := "n=1"
	if len(vals) > 1 {
		spread = rangeOf(vals, u.format) + fmt.Sprintf(" (n=%d)", len(vals))
	}
	b.rows = append(b.rows, row{part, figure, value, spread, note})
}

func (b *bench) addText(part, figure, value, spread, note string) {
	b.rows = append(b.rows, row{part, figure, value, spread, note})
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func rangeOf(v []float64, format string) string {
	if len(v) == 0 {
		return "?"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	a, z := fmt.Sprintf(format, lo), fmt.Sprintf(format, hi)
	if a == z {
		return a
	}
	return a + "–" + z
}

// ratioRange formats a ratio measured several times: median (min–max).
func ratioRange(v []float64) string {
	if len(v) == 0 {
		return "n/a"
	}
	if len(v) == 1 {
		return fmt.Sprintf("%.2f", v[0])
	}
	return fmt.Sprintf("%.2f (%s)", median(v), rangeOf(v, "%.2f"))
}

// ratioOf divides the medians of two series.
func ratioOf(a, b []float64) string {
	if len(a) == 0 || len(b) == 0 || median(b) == 0 {
		return "n/a"
	}
	r := median(a) / median(b)
	if r >= 10 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// print writes the machine, the table and the notes.
func (b *bench) print(w io.Writer) {
	m := b.machine
	fmt.Fprintf(w, "\nBAUM benchmark, %s (took %s)\n", b.started.UTC().Format("2006-01-02 15:04 MST"), since(b.started))
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, Linux %s, %s\n", m.CPU, m.Cores, m.RAM, m.Kernel, m.Go)
	fmt.Fprintf(w, "CPU flags: %s. Disk: %s.\n", m.CPUFlags, m.Disk)
	fmt.Fprintf(w, "Load average (1, 5, 15 min): %s at the start, %s at the end.\n\n", m.LoadBefore, m.LoadAfter)

	header := row{"Part", "Figure", "Median", "Range", "Note"}
	rows := append([]row{header}, b.rows...)
	width := make([]int, 5)
	for _, r := range rows {
		for i, c := range r.cells() {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range cells {
			sb.WriteString(" " + c + strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, sb.String())
	}
	line(header.cells())
	seps := make([]string, 5)
	for i := range seps {
		seps[i] = strings.Repeat("-", width[i])
	}
	line(seps)
	for _, r := range b.rows {
		line(r.cells())
	}
	if len(b.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range b.notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

func (r row) cells() []string { return []string{r.part, r.figure, r.value, r.spread, r.note} }
