package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/baum-store/baum/messages"
)

// runKernels runs the Go benchmarks of the bit-counting kernel and of the
// staging pass, and SHA-256 once more without SHA-NI.
func (b *bench) runKernels() error {
	count := strconv.Itoa(b.kernelRuns)
	b.logf("kernel benchmarks (go test -bench ./app/bits, -count %s)", count)
	lines, logs, err := goBench(b.root, "./app/bits", "^(BenchmarkOnesVsRead|BenchmarkOnes)$", nil, "-benchtime", "300ms", "-count", count)
	if err != nil {
		return err
	}
	kernel := "?"
	for _, l := range logs {
		if _, k, ok := strings.Cut(l, "kernel "); ok {
			kernel = k
		}
	}
	ones := values(lines, "BenchmarkOnesVsRead", "ones-GB/s")
	b.add("Bit count", fmt.Sprintf("bits.Ones over 64 MiB (kernel %s)", kernel), ones, gbps, "")
	b.add("Bit count", "read baseline, every word (same run)", values(lines, "BenchmarkOnesVsRead", "read-GB/s"), gbps,
		"count/read "+ratioRange(values(lines, "BenchmarkOnesVsRead", "ratio"))+" (target ≥ 0.90)")
	b.add("Bit count", "read baseline, one word per cache line (same run)", values(lines, "BenchmarkOnesVsRead", "readlines-GB/s"), gbps,
		"count/read "+ratioRange(values(lines, "BenchmarkOnesVsRead", "ratio-lines")))
	inCache := mbToGB(values(lines, "BenchmarkOnes/256KiB", "MB/s"))
	b.add("Bit count", "bits.Ones over a 256 KiB buffer (in cache)", inCache, gbps, "")

	b.logf("staging benchmarks (go test -bench ./app/command, -count %s)", count)
	st, _, err := goBench(b.root, "./app/command", "^BenchmarkStaging$", nil, "-benchtime", "3x", "-count", count)
	if err != nil {
		return err
	}
	b.logf("SHA-256 without SHA-NI (GODEBUG=cpu.sha=off)")
	noNI, _, err := goBench(b.root, "./app/command", "^BenchmarkStaging$/^sha256$", []string{"GODEBUG=cpu.sha=off"}, "-benchtime", "3x", "-count", "3")
	if err != nil {
		return err
	}
	sha := values(st, "BenchmarkStaging/sha256", "MB/s")
	chunk := sizeOf(messages.DefaultChunkSize)
	shaOff := values(noNI, "BenchmarkStaging/sha256", "MB/s")
	shaNI := "no sha_ni CPU flag: Go's crypto/sha256 uses the AVX2/SSE path"
	if strings.Contains(b.machine.CPUFlags, "sha_ni") {
		shaNI = "CPU has SHA-NI; Go's crypto/sha256 uses it (blockSHANI)"
	}
	b.add("Hashing", "SHA-256 (crypto/sha256) over 64 MiB in "+chunk+" writes", sha, mbps,
		fmt.Sprintf("%s; counting a 256 KiB buffer is %s× faster", shaNI, ratioOf(inCache, mbToGB(sha))))
	b.add("Hashing", "SHA-256 with SHA-NI off (GODEBUG=cpu.sha=off)", shaOff, mbps,
		fmt.Sprintf("SHA-NI speed-up %s×", ratioOf(sha, shaOff)))
	write := values(st, "BenchmarkStaging/write", "MB/s")
	b.add("Staging", "write only: 64 MiB staged file in "+chunk+" chunks (page cache)", write, mbps, "")
	seq := values(st, "BenchmarkStaging/sequential", "MB/s")
	b.add("Staging", "write, then hash, then count, one after the other", seq, mbps, "what staging did before")
	pass := values(st, "BenchmarkStaging/pass", "MB/s")
	b.add("Staging", "one pass: StageChunkHandler, hash ∥ (write + count)", pass, mbps,
		fmt.Sprintf("%s× sequential; %s× SHA-256 alone (its bound)", ratioOf(pass, seq), ratioOf(pass, sha)))
	return nil
}
