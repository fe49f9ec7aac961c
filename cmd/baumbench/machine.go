package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the benchmark ran.
type machine struct {
	CPU        string
	Cores      int
	RAM        string
	Kernel     string
	Go         string
	Disk       string
	CPUFlags   string
	LoadBefore string
	LoadAfter  string
}

func describeMachine(dir string) machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		var flags []string
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			switch {
			case k == "model name" && m.CPU == "":
				m.CPU = v
			case k == "flags" && flags == nil:
				for _, f := range strings.Fields(v) {
					switch f {
					case "sha_ni", "avx2", "avx512f", "avx512_vpopcntdq", "popcnt":
						flags = append(flags, f)
					}
				}
			}
		}
		m.CPUFlags = strings.Join(flags, " ")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.RAM = fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.Disk = describeDisk(dir)
	return m
}

// describeDisk names the filesystem dir is on: device, type, and whether
// the kernel sees it as rotational.
func describeDisk(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "unknown"
	}
	f, err := os.Open("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	var dev, mnt, typ string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		if strings.HasPrefix(abs+"/", strings.TrimSuffix(fs[1], "/")+"/") && len(fs[1]) >= len(mnt) {
			dev, mnt, typ = fs[0], fs[1], fs[2]
		}
	}
	desc := fmt.Sprintf("%s (%s on %s)", dev, typ, mnt)
	base := filepath.Base(dev)
	for len(base) > 0 && base[len(base)-1] >= '0' && base[len(base)-1] <= '9' {
		base = base[:len(base)-1] // vda1 -> vda
	}
	if b, err := os.ReadFile("/sys/block/" + base + "/queue/rotational"); err == nil {
		if strings.TrimSpace(string(b)) == "1" {
			desc += ", reported rotational"
		} else {
			desc += ", non-rotational"
		}
	}
	return desc
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
