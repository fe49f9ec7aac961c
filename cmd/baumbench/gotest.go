package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// benchLine is one result line of `go test -bench`: the benchmark's name
// (without the -GOMAXPROCS suffix) and its metrics by unit.
type benchLine struct {
	name    string
	metrics map[string]float64
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// goBench runs `go test -run ^$ -bench pattern` in pkg with extra flags and
// environment, and returns the result lines and the log lines benchmarks
// wrote.
func goBench(root, pkg, pattern string, env []string, flags ...string) ([]benchLine, []string, error) {
	args := append([]string{"test", "-run", "^$", "-bench", pattern}, flags...)
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	var (
		lines []benchLine
		logs  []string
	)
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		text := sc.Text()
		fields := strings.Fields(text)
		if len(fields) >= 4 && strings.HasPrefix(fields[0], "Benchmark") {
			bl := benchLine{name: procsSuffix.ReplaceAllString(fields[0], ""), metrics: map[string]float64{}}
			for i := 2; i+1 < len(fields); i += 2 {
				if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
					bl.metrics[fields[i+1]] = v
				}
			}
			lines = append(lines, bl)
		} else if strings.HasPrefix(strings.TrimSpace(text), "bench_test.go:") || strings.Contains(text, "_test.go:") {
			logs = append(logs, strings.TrimSpace(text))
		}
	}
	return lines, logs, sc.Err()
}

// values collects one metric of the lines named name.
func values(lines []benchLine, name, unit string) []float64 {
	var out []float64
	for _, l := range lines {
		if l.name == name {
			if v, ok := l.metrics[unit]; ok {
				out = append(out, v)
			}
		}
	}
	return out
}
