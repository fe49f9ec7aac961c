package kafka_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/IBM/sarama"

	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/internal/testsystem"
)

func TestSecuritySettingsReachEveryClient(t *testing.T) {
	certs := testsystem.NewTLS(t)
	c := kafka.Config{Brokers: []string{"k:9093"},
		TLS:  kafka.TLSConfig{Enable: true, CAFile: certs.CAFile, CertFile: certs.CertFile, KeyFile: certs.KeyFile},
		SASL: kafka.SASLConfig{Mechanism: kafka.SASLScramSHA512, User: "baum", Password: "s3cret"}}
	pub, err := c.PublisherConfig()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := c.SubscriberConfig()
	if err != nil {
		t.Fatal(err)
	}
	probe, err := c.SaramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	for name, sc := range map[string]*sarama.Config{"publisher": pub, "subscriber": sub, "probe": probe} {
		if !sc.Net.TLS.Enable || sc.Net.TLS.Config == nil || sc.Net.TLS.Config.RootCAs == nil || len(sc.Net.TLS.Config.Certificates) != 1 {
			t.Errorf("%s: TLS not applied: %+v", name, sc.Net.TLS)
		}
		if !sc.Net.SASL.Enable || sc.Net.SASL.Mechanism != sarama.SASLTypeSCRAMSHA512 || sc.Net.SASL.User != "baum" ||
			sc.Net.SASL.Password != "s3cret" || sc.Net.SASL.SCRAMClientGeneratorFunc == nil {
			t.Errorf("%s: SASL not applied", name)
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: Sarama refuses the settings: %v", name, err)
		}
	}
	// A SCRAM conversation starts (the first message names the user).
	client := probe.Net.SASL.SCRAMClientGeneratorFunc()
	if err := client.Begin("baum", "s3cret", ""); err != nil {
		t.Fatal(err)
	}
	if first, err := client.Step(""); err != nil || !strings.HasPrefix(first, "n,,n=baum,r=") {
		t.Errorf("first SCRAM message %q, %v", first, err)
	}
	if d := c.Describe(); strings.Contains(d, "s3cret") || d != `k:9093 over TLS with SASL SCRAM-SHA-512 as "baum"` {
		t.Errorf("Describe() = %q", d)
	}

	plain := kafka.Config{Brokers: []string{"k:9092"}}
	sc, err := plain.SaramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	if sc.Net.TLS.Enable || sc.Net.SASL.Enable {
		t.Error("TLS or SASL on by default")
	}
}

func TestBadSecuritySettingsAreReported(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		c    kafka.Config
		says string
	}{
		{"CA without TLS", kafka.Config{TLS: kafka.TLSConfig{CAFile: "ca.pem"}}, "TLS is not enabled"},
		{"cert without key", kafka.Config{TLS: kafka.TLSConfig{Enable: true, CertFile: "c.pem"}}, "both its certificate file and its key file"},
		{"unknown mechanism", kafka.Config{SASL: kafka.SASLConfig{Mechanism: "GSSAPI", User: "u"}}, `"GSSAPI" is not PLAIN`},
		{"no user", kafka.Config{SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain}}, "needs a user"},
		{"user without mechanism", kafka.Config{SASL: kafka.SASLConfig{User: "u", Password: "p"}}, "no SASL mechanism"},
		{"CA not PEM", kafka.Config{TLS: kafka.TLSConfig{Enable: true, CAFile: notPEM}}, "holds no PEM certificate"},
		{"CA missing", kafka.Config{TLS: kafka.TLSConfig{Enable: true, CAFile: "/nonexistent/ca.pem"}}, "/nonexistent/ca.pem"},
	}
	for _, c := range cases {
		c.c.Brokers = []string{"k:9092"}
		_, err := c.c.SaramaConfig()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.says)
		}
	}
}
