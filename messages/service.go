package messages

import "fmt"

// Service names one of the two BAUM services. It is the value of every
// "service" field in the contract.
type Service string

const (
	// Zeros counts zero bits and keeps files with at least as many zero bits as one bits.
	Zeros Service = "zeros"
	// Ones counts one bits and keeps files with at least as many one bits as zero bits.
	Ones Service = "ones"
)

// Services lists both services in a fixed order (zeros first).
func Services() []Service { return []Service{Zeros, Ones} }

// ParseService returns the Service named s.
func ParseService(s string) (Service, error) {
	switch Service(s) {
	case Zeros, Ones:
		return Service(s), nil
	}
	return "", fmt.Errorf("unknown service %q (want %q or %q)", s, Zeros, Ones)
}

// Peer returns the other service.
func (s Service) Peer() Service {
	if s == Zeros {
		return Ones
	}
	return Zeros
}

func (s Service) valid() bool { return s == Zeros || s == Ones }
