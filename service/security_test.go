package service_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/infra/broker"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// refused reports whether a client with these settings fails to read the
// broker's metadata: the broker really demands what the services spoke.
func refused(t *testing.T, kcfg kafka.Config) bool {
	t.Helper()
	sc, err := kcfg.SaramaConfig()
	if err != nil {
		t.Fatal(err)
	}
	sc.Metadata.Retry.Max = 0
	sc.Net.DialTimeout, sc.Net.ReadTimeout, sc.Net.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	client, err := sarama.NewClient(kcfg.Brokers, sc)
	if err != nil {
		return true
	}
	defer client.Close()
	return client.RefreshMetadata() != nil
}

// Both services, their readiness probes and the tests' own clients work
// over each security setting the broker demands, and a client without it is
// turned away.
func TestKafkaOverTLSAndSASL(t *testing.T) {
	certs := testsystem.NewTLS(t)
	tlsEnv := map[string]string{"BAUM_KAFKA_TLS": "true", "BAUM_KAFKA_TLS_CA_FILE": certs.CAFile}
	sasl := func(mechanism, password string, env map[string]string) map[string]string {
		out := map[string]string{"BAUM_KAFKA_SASL_MECHANISM": mechanism, "BAUM_KAFKA_SASL_USER": "baum", "BAUM_KAFKA_SASL_PASSWORD": password}
		for k, v := range env {
			out[k] = v
		}
		return out
	}
	cases := []struct {
		name   string
		tls    bool
		user   *broker.User
		env    map[string]string
		strip  func(*kafka.Config) // what a client without the setting lacks
		upload messages.Service
	}{
		{"TLS", true, nil, tlsEnv, func(c *kafka.Config) { c.TLS = kafka.TLSConfig{} }, messages.Zeros},
		{"SASL PLAIN", false, &broker.User{Mechanism: "PLAIN", Name: "baum", Password: "pl41n"},
			sasl("PLAIN", "pl41n", nil), func(c *kafka.Config) { c.SASL.Password = "wrong" }, messages.Ones},
		{"SASL SCRAM-SHA-512 over TLS", true, &broker.User{Mechanism: "SCRAM-SHA-512", Name: "baum", Password: "s512"},
			sasl("SCRAM-SHA-512", "s512", tlsEnv), func(c *kafka.Config) { c.SASL.Mechanism = kafka.SASLScramSHA256 }, messages.Ones},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel() // each its own system; they mostly wait
			var users []broker.User
			if c.user != nil {
				users = append(users, *c.user, broker.User{Mechanism: "SCRAM-SHA-256", Name: "other", Password: "s256"})
			}
			var serverTLS = certs.Server
			if !c.tls {
				serverTLS = nil
			}
			sys := testsystem.Start(t, c.env, testsystem.WithBroker(serverTLS, users...))
			data := bytes.Repeat([]byte{0x0F}, 3000) // a tie: both services store it
			res := sys.Upload(t, c.upload, "secure.bin", data, "")
			if res.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", res.Status, res.Body)
			}
			var f api.File
			res.JSON(t, &f)
			if f.SHA256 != sha(data) || len(f.StoredIn) != 2 {
				t.Errorf("stored %+v", f)
			}
			sys.WaitSettled(t, 30*time.Second)

			without := sys.Kafka
			c.strip(&without)
			if !refused(t, without) {
				t.Errorf("the broker let in a client without %s", c.name)
			}
			if c.user != nil {
				// The third mechanism, spoken by the same client code.
				scram256 := sys.Kafka
				scram256.SASL = kafka.SASLConfig{Mechanism: kafka.SASLScramSHA256, User: "other", Password: "s256"}
				if refused(t, scram256) {
					t.Error("a SCRAM-SHA-256 login was refused")
				}
				scram256.SASL.Password = "wrong"
				if !refused(t, scram256) {
					t.Error("a SCRAM-SHA-256 login with a wrong password was let in")
				}
			}
		})
	}
}

// A service that cannot authenticate, or that does not trust the broker's
// certificate, does not start, and says why.
func TestKafkaSecurityMistakesStopTheStart(t *testing.T) {
	certs := testsystem.NewTLS(t)
	other := testsystem.NewTLS(t) // an authority that did not sign the broker's certificate
	user := broker.User{Mechanism: "SCRAM-SHA-512", Name: "baum", Password: "right"}
	cases := []struct {
		name string
		env  map[string]string
		says string
	}{
		{"wrong password", map[string]string{"BAUM_KAFKA_TLS": "true", "BAUM_KAFKA_TLS_CA_FILE": certs.CAFile,
			"BAUM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "BAUM_KAFKA_SASL_USER": "baum", "BAUM_KAFKA_SASL_PASSWORD": "wr0ng-pa55"},
			`over TLS with SASL SCRAM-SHA-512 as "baum"`},
		{"unknown CA", map[string]string{"BAUM_KAFKA_TLS": "true", "BAUM_KAFKA_TLS_CA_FILE": other.CAFile,
			"BAUM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512", "BAUM_KAFKA_SASL_USER": "baum", "BAUM_KAFKA_SASL_PASSWORD": "right"},
			"certificate signed by unknown authority"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			// Long enough for the database to be created and Kafka tried twice on
			// a loaded machine (3 s was not, at a load average of 7).
			c.env["BAUM_STARTUP_TIMEOUT"] = "8s"
			sys, err := testsystem.TryStart(t, c.env, testsystem.WithBroker(certs.Server, user))
			if err == nil {
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), "connect to Kafka") || !strings.Contains(err.Error(), c.says) {
				t.Errorf("error does not say %q:\n%v", c.says, err)
			}
			if !strings.Contains(sys.Logs.String(), "start: connect to Kafka failed; retrying") {
				t.Errorf("the failed attempts were not logged:\n%s", sys.Logs.Tail(20))
			}
			if pw := c.env["BAUM_KAFKA_SASL_PASSWORD"]; strings.Contains(err.Error()+sys.Logs.String(), pw) {
				t.Error("the password reached the error or the logs")
			}
		})
	}
}

// sslmode in BAUM_DATABASE_URL reaches the database driver: with
// sslmode=require every connection of the service is encrypted if the server
// speaks TLS, and the service does not start if it does not.
func TestDatabaseSSLModeIsHonoured(t *testing.T) {
	admin := connectAdmin(t)
	var ssl string
	if err := admin.QueryRow(t.Context(), "SHOW ssl").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	base, err := url.Parse(testsystem.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := base.Query()
	q.Set("sslmode", "require")
	base.RawQuery = q.Encode()

	if ssl != "on" {
		_, err := testsystem.TryStart(t, map[string]string{"BAUM_STARTUP_TIMEOUT": "3s"}, testsystem.WithPostgresURL(base.String()))
		if err == nil || !strings.Contains(err.Error(), "TLS") && !strings.Contains(err.Error(), "SSL") {
			t.Fatalf("the server has no SSL, yet sslmode=require gave: %v", err)
		}
		return
	}
	t.Log("the server speaks SSL: checking that the services' connections use it")
	// The test's own connection (sslmode=disable) is plaintext: the server
	// does not force TLS, so encrypted connections come from the URL.
	var mine bool
	if err := admin.QueryRow(t.Context(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&mine); err != nil || mine {
		t.Fatalf("the test's sslmode=disable connection uses SSL (%v): cannot tell", err)
	}
	sys := testsystem.Start(t, nil, testsystem.WithPostgresURL(base.String()))
	if res := sys.Upload(t, messages.Zeros, "db-tls.bin", make([]byte, 100), ""); res.Status != http.StatusCreated {
		t.Fatalf("upload: %d %s", res.Status, res.Body)
	}
	for _, role := range messages.Services() {
		var total, encrypted int
		err := admin.QueryRow(context.Background(), `SELECT count(*), count(*) FILTER (WHERE s.ssl)
			FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1`, sys.DBPrefix+"_"+string(role)).Scan(&total, &encrypted)
		if err != nil {
			t.Fatal(err)
		}
		if total == 0 || encrypted != total {
			t.Errorf("%s: %d of %d connections use SSL", role, encrypted, total)
		}
	}

	// A CA file that does not exist stops the start, naming it.
	q.Set("sslmode", "verify-full")
	q.Set("sslrootcert", "/nonexistent/baum-ca.pem")
	base.RawQuery = q.Encode()
	_, err = testsystem.TryStart(t, map[string]string{"BAUM_STARTUP_TIMEOUT": "2s"}, testsystem.WithPostgresURL(base.String()))
	if err == nil || !strings.Contains(err.Error(), "baum-ca.pem") {
		t.Errorf("sslrootcert of a missing file gave: %v", err)
	}
}

// connectAdmin connects to the test server's postgres database.
func connectAdmin(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), strings.Replace(testsystem.PostgresURL(), "/?", "/postgres?", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}
