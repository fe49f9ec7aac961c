package bits

// Kernel exposes one implementation of Ones to the bits_test package, so the
// tests, the fuzz target and the benchmarks can prove and measure every path
// (not just the one selected for this CPU).
type Kernel struct {
	Name string
	Fn   func([]byte) uint64
}

// Kernels returns the kernels this CPU can run, best first; "generic" (the
// portable pure-Go kernel) is always among them.
func Kernels() []Kernel {
	var ks []Kernel
	for _, k := range kernels {
		if k.ok {
			ks = append(ks, Kernel{k.name, k.fn})
		}
	}
	return ks
}

// UnavailableKernels returns the names of the kernels this CPU cannot run.
func UnavailableKernels() []string {
	var names []string
	for _, k := range kernels {
		if !k.ok {
			names = append(names, k.name)
		}
	}
	return names
}

// SelectedKernel returns the name of the kernel Ones uses.
func SelectedKernel() string { return onesName }
