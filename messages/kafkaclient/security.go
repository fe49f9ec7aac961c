package kafkaclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// TLSConfig encrypts the connections to the brokers.
type TLSConfig struct {
	// Enable turns TLS on. The other fields need it.
	Enable bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates. Default: the system's trusted authorities.
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and its private
	// key, for brokers that authenticate clients by certificate (mutual
	// TLS). Both or neither.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any broker certificate: the connection is
	// encrypted but the broker is not authenticated. Only for tests.
	InsecureSkipVerify bool
}

// SASL mechanisms the services speak.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// SASLConfig authenticates the services to the brokers.
type SASLConfig struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "" turns SASL off.
	// PLAIN sends the password as it is: use it only with TLS.
	Mechanism string
	User      string
	Password  string
}

// Validate reports every bad field. It does not read the files.
func (c TLSConfig) Validate() error {
	var errs []error
	if !c.Enable && (c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.InsecureSkipVerify) {
		errs = append(errs, errors.New("TLS settings are given but TLS is not enabled"))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("a TLS client certificate needs both its certificate file and its key file"))
	}
	return errors.Join(errs...)
}

// Validate reports every bad field.
func (c SASLConfig) Validate() error {
	switch c.Mechanism {
	case "":
		if c.User != "" || c.Password != "" {
			return errors.New("a SASL user or password is given but no SASL mechanism")
		}
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.User == "" {
			return fmt.Errorf("SASL %s needs a user", c.Mechanism)
		}
		return nil
	}
	return fmt.Errorf("SASL mechanism %q is not %s, %s or %s", c.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
}

// load returns the crypto/tls configuration, reading the files.
func (c TLSConfig) load() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("Kafka TLS CA file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("Kafka TLS CA file %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("Kafka TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// secure applies TLS and SASL to a Sarama configuration.
func (c Config) secure(sc *sarama.Config) error {
	if c.TLS.Enable {
		tc, err := c.TLS.load()
		if err != nil {
			return err
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if c.SASL.Mechanism == "" {
		return nil
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Version = sarama.SASLHandshakeV1
	sc.Net.SASL.User = c.SASL.User
	sc.Net.SASL.Password = c.SASL.Password
	switch c.SASL.Mechanism {
	case SASLPlain:
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case SASLScramSHA256:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case SASLScramSHA512:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	}
	return nil
}

// scramClient is Sarama's SCRAM conversation, spoken by xdg-go/scram.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, password, authzID string) error {
	client, err := s.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	s.conv = client.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }
func (s *scramClient) Done() bool                            { return s.conv.Done() }

// Describe says how the clients connect, for error messages and logs:
// brokers, TLS, SASL mechanism and user; never the password.
func (c Config) Describe() string {
	s := strings.Join(c.Brokers, ",")
	if c.TLS.Enable {
		s += " over TLS"
		if c.TLS.InsecureSkipVerify {
			s += " (certificate not verified)"
		}
	}
	if c.SASL.Mechanism != "" {
		s += fmt.Sprintf(" with SASL %s as %q", c.SASL.Mechanism, c.SASL.User)
	}
	return s
}
