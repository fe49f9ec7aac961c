package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	httpport "github.com/baum-store/baum/handlers/http"
	"github.com/baum-store/baum/infra/kafka"
	"github.com/baum-store/baum/infra/logging"
	"github.com/baum-store/baum/infra/s3"
	"github.com/baum-store/baum/messages"
)

// Config is one service's configuration, read from BAUM_* environment
// variables (see envVars) and validated at start.
type Config struct {
	Role            messages.Service
	HTTPAddr        string
	DatabaseURL     string
	DatabaseMaxConn int
	CreateDatabase  bool
	KafkaBrokers    []string
	KafkaVersion    string
	KafkaTLS        kafka.TLSConfig
	KafkaSASL       kafka.SASLConfig
	GroupPrefix     string
	Instance        string
	DataDir         string
	// Storage is where stored files are kept: StorageDir or StorageS3
	// (then S3 says where).
	Storage         string
	S3              s3.Config
	S3SecretKeyFile string
	ChunkSize       int
	MaxUploadBytes  int64
	UploadWait      time.Duration
	SyncStaged      bool
	StalledAfter    time.Duration
	ShutdownTimeout time.Duration
	StartupTimeout  time.Duration
	LogLevel        string
	LogFormat       string
	PprofAddr       string

	HTTPReadHeaderTimeout time.Duration
	HTTPIdleReadTimeout   time.Duration
	HTTPMaxHeaderBytes    int

	// APITokens are the HTTP API's bearer tokens from BAUM_API_TOKENS (their
	// hashes: the tokens themselves are not kept), APITokensFile the file of
	// more (BAUM_API_TOKENS_FILE).
	APITokens     []httpport.Token
	APITokensFile string
	MetricsAddr   string
}

// Authenticated reports whether the HTTP API asks for tokens: some are
// configured, or a token file is (an empty one refuses every request until
// a token is added to it).
func (c Config) Authenticated() bool { return len(c.APITokens) > 0 || c.APITokensFile != "" }

// Kafka returns the configuration of this service's Kafka clients.
func (c Config) Kafka() kafka.Config {
	return kafka.Config{Brokers: c.KafkaBrokers, Version: c.KafkaVersion, ClientID: "baum-" + string(c.Role),
		TLS: c.KafkaTLS, SASL: c.KafkaSASL, InstanceID: c.Instance}
}

// envVar is one configuration variable: its name, its default for a role,
// what it means, and how it sets the Config.
type envVar struct {
	Name string
	Help string
	// Default returns the value used when the variable is unset or empty.
	Default func(role messages.Service) string
	set     func(c *Config, v string) error
}

func fixed(s string) func(messages.Service) string { return func(messages.Service) string { return s } }

// DefaultPort is each service's HTTP port in development and in compose.
func DefaultPort(role messages.Service) int {
	if role == messages.Ones {
		return 8080
	}
	return 8000
}

// envVars lists every variable a service reads, in the order of the table in
// docs/configuration.md.
var envVars = slices.Concat(startVars, storageVars, serviceVars)

var startVars = []envVar{
	{"BAUM_ROLE", "Which service this process is: `zeros` or `ones` (`baum serve --role` overrides).", fixed(""),
		func(c *Config, v string) (err error) { c.Role, err = messages.ParseService(v); return }},
	{"BAUM_HTTP_ADDR", "Address the HTTP API listens on.",
		func(r messages.Service) string { return fmt.Sprintf(":%d", DefaultPort(r)) },
		func(c *Config, v string) error { c.HTTPAddr = v; return checkAddr(v) }},
	{"BAUM_DATABASE_URL", "PostgreSQL connection URL of this service's own database (TLS via `sslmode`, `sslrootcert`, `sslcert`, `sslkey`).",
		func(r messages.Service) string {
			return fmt.Sprintf("postgres://postgres@127.0.0.1:5432/baum_%s?sslmode=disable", r)
		},
		func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{"BAUM_DATABASE_MAX_CONNS", "Size of the database connection pool.", fixed("10"),
		func(c *Config, v string) (err error) { c.DatabaseMaxConn, err = positiveInt(v); return }},
	{"BAUM_CREATE_DATABASE", "Create the database named in BAUM_DATABASE_URL if it does not exist.", fixed("false"),
		func(c *Config, v string) (err error) { c.CreateDatabase, err = strconv.ParseBool(v); return }},
	{"BAUM_KAFKA_BROKERS", "Comma-separated Kafka bootstrap brokers, host:port.", fixed("127.0.0.1:9092"),
		func(c *Config, v string) error { c.KafkaBrokers = splitList(v); return nil }},
	{"BAUM_KAFKA_VERSION", "Kafka protocol version to speak (3.x and 4.x brokers accept the default).", fixed("3.6.0"),
		func(c *Config, v string) error { c.KafkaVersion = v; return nil }},
	{"BAUM_KAFKA_TLS", "Connect to Kafka over TLS.", fixed("false"),
		func(c *Config, v string) (err error) { c.KafkaTLS.Enable, err = strconv.ParseBool(v); return }},
	{"BAUM_KAFKA_TLS_CA_FILE", "PEM file of the authorities that sign the brokers' certificates (default: the system's).", fixed(""),
		func(c *Config, v string) error { c.KafkaTLS.CAFile = v; return nil }},
	{"BAUM_KAFKA_TLS_CERT_FILE", "PEM client certificate, for brokers that require one (mutual TLS); with BAUM_KAFKA_TLS_KEY_FILE.", fixed(""),
		func(c *Config, v string) error { c.KafkaTLS.CertFile = v; return nil }},
	{"BAUM_KAFKA_TLS_KEY_FILE", "PEM private key of the client certificate.", fixed(""),
		func(c *Config, v string) error { c.KafkaTLS.KeyFile = v; return nil }},
	{"BAUM_KAFKA_TLS_INSECURE_SKIP_VERIFY", "Accept any broker certificate (encrypted, but the broker is not authenticated). Tests only.", fixed("false"),
		func(c *Config, v string) (err error) {
			c.KafkaTLS.InsecureSkipVerify, err = strconv.ParseBool(v)
			return
		}},
	{"BAUM_KAFKA_SASL_MECHANISM", "SASL authentication to Kafka: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (empty: none).", fixed(""),
		func(c *Config, v string) error { c.KafkaSASL.Mechanism = strings.ToUpper(v); return nil }},
	{"BAUM_KAFKA_SASL_USER", "SASL user name.", fixed(""),
		func(c *Config, v string) error { c.KafkaSASL.User = v; return nil }},
	{"BAUM_KAFKA_SASL_PASSWORD", "SASL password.", fixed(""),
		func(c *Config, v string) error { c.KafkaSASL.Password = v; return nil }},
	{"BAUM_CONSUMER_GROUP_PREFIX", "Start of every consumer group name (`<prefix>-<role>.<handler>`). Changing it re-reads every topic.", fixed("baum"),
		func(c *Config, v string) error { c.GroupPrefix = v; return nil }},
	{"BAUM_INSTANCE", "Names this process in its consumer groups, which it joins as a static member (group instance id `<group>.<instance>`, KIP-345): killed and restarted under the same name, it takes its partitions back at once instead of after the broker expires the dead process (10 s). Keep it stable across restarts; processes of one role on one host need distinct names. Letters, digits, `.`, `_` and `-`; empty: the host name.", fixed(""),
		func(c *Config, v string) (err error) {
			if c.Instance = v; v == "" {
				c.Instance, err = os.Hostname()
			}
			return err
		}},
	{"BAUM_DATA_DIR", "Directory of this replica's staged files and send journal, and of the stored files with BAUM_STORAGE=dir.",
		func(r messages.Service) string { return filepath.Join("data", string(r)) },
		func(c *Config, v string) error { c.DataDir = v; return nil }},
}

var serviceVars = []envVar{
	{"BAUM_CHUNK_SIZE", fmt.Sprintf("File bytes per chunk command (1 to %d).", messages.MaxChunkSize), fixed(strconv.Itoa(messages.DefaultChunkSize)),
		func(c *Config, v string) (err error) { c.ChunkSize, err = positiveInt(v); return }},
	{"BAUM_MAX_UPLOAD_BYTES", "Largest file an upload may carry; larger ones get 413.", fixed(strconv.Itoa(10 << 30)),
		func(c *Config, v string) (err error) { c.MaxUploadBytes, err = strconv.ParseInt(v, 10, 64); return }},
	{"BAUM_HTTP_READ_HEADER_TIMEOUT", "How long a client may take to send a request's headers; slower ones are cut off.", fixed("10s"),
		func(c *Config, v string) (err error) { c.HTTPReadHeaderTimeout, err = time.ParseDuration(v); return }},
	{"BAUM_HTTP_IDLE_READ_TIMEOUT", "How long an upload's body may stall (no byte arriving) before the upload is cut off with 408.", fixed("1m"),
		func(c *Config, v string) (err error) { c.HTTPIdleReadTimeout, err = time.ParseDuration(v); return }},
	{"BAUM_HTTP_MAX_HEADER_BYTES", "Largest request header block; larger ones get 431.", fixed("65536"),
		func(c *Config, v string) (err error) { c.HTTPMaxHeaderBytes, err = positiveInt(v); return }},
	{"BAUM_API_TOKENS", "Bearer tokens of the HTTP API, comma-separated, each `scope:token` or `name:scope:token`: scope `read` (list, metadata, download, upload status) or `write` (also upload and delete); a token is 16 or more of `A-Z a-z 0-9 - . _ ~ + /`, e.g. from `openssl rand -hex 32`. With this and BAUM_API_TOKENS_FILE empty the API asks for no token.", fixed(""),
		func(c *Config, v string) (err error) { c.APITokens, err = httpport.ParseTokens(v); return }},
	{"BAUM_API_TOKENS_FILE", "File of API tokens as in BAUM_API_TOKENS, one or more per line, `#` comments (e.g. a Docker or Kubernetes secret). Read again every 2 s: a token removed from it is revoked without a restart.", fixed(""),
		func(c *Config, v string) error { c.APITokensFile = v; return nil }},
	{"BAUM_METRICS_ADDR", "If set, serve `/metrics` on this address instead of the API's, e.g. `:9100`.", fixed(""),
		func(c *Config, v string) error {
			c.MetricsAddr = v
			if v == "" {
				return nil
			}
			return checkAddr(v)
		}},
	{"BAUM_UPLOAD_WAIT", "How long POST /data/upload waits for the placement, and DELETE /data/{id} for the delete, before answering 202 (per request: `?wait=`).", fixed("30s"),
		func(c *Config, v string) (err error) { c.UploadWait, err = time.ParseDuration(v); return }},
	{"BAUM_FSYNC", "Flush each staged file to disk before its bit count is published (durable against power loss); a staged file is then written past its first chunk with O_DIRECT, bypassing the page cache.", fixed("true"),
		func(c *Config, v string) (err error) { c.SyncStaged, err = strconv.ParseBool(v); return }},
	{"BAUM_STALLED_UPLOAD_AFTER", "An upload whose chunks stop arriving for this long fails and its staged bytes are removed.", fixed("1h"),
		func(c *Config, v string) (err error) { c.StalledAfter, err = time.ParseDuration(v); return }},
	{"BAUM_SHUTDOWN_TIMEOUT", "How long a stopping service lets in-flight requests and messages finish.", fixed("30s"),
		func(c *Config, v string) (err error) { c.ShutdownTimeout, err = time.ParseDuration(v); return }},
	{"BAUM_STARTUP_TIMEOUT", "How long a starting service waits for its database and Kafka.", fixed("60s"),
		func(c *Config, v string) (err error) { c.StartupTimeout, err = time.ParseDuration(v); return }},
	{"BAUM_LOG_LEVEL", "debug, info, warn or error.", fixed("info"),
		func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"BAUM_LOG_FORMAT", "json or text.", fixed("json"),
		func(c *Config, v string) error { c.LogFormat = v; return nil }},
	{"BAUM_PPROF_ADDR", "If set, serve Go's profiling endpoints (`/debug/pprof/`) on this address, apart from the API, e.g. `127.0.0.1:6060`; keep it private.", fixed(""),
		func(c *Config, v string) error {
			c.PprofAddr = v
			if v == "" {
				return nil
			}
			return checkAddr(v)
		}},
}

// secretVars are never repeated in an error message.
var secretVars = map[string]bool{"BAUM_API_TOKENS": true, "BAUM_KAFKA_SASL_PASSWORD": true, "BAUM_STORAGE_S3_SECRET_KEY": true}

// EnvVar describes one configuration variable.
type EnvVar struct {
	Name string
	Help string
	// Default returns the value used for a role when the variable is unset or empty.
	Default func(role messages.Service) string
}

// EnvVars lists every variable a service reads.
func EnvVars() []EnvVar {
	out := make([]EnvVar, len(envVars))
	for i, v := range envVars {
		out[i] = EnvVar{Name: v.Name, Help: v.Help, Default: v.Default}
	}
	return out
}

// LoadConfig reads the configuration through getenv (os.Getenv in
// production). role, if not empty, overrides BAUM_ROLE. Every bad value is
// reported, each in its own line naming the variable.
func LoadConfig(getenv func(string) string, role string) (Config, error) {
	var c Config
	var errs []error
	if role == "" {
		role = getenv("BAUM_ROLE")
	}
	if role == "" {
		return c, errors.New("BAUM_ROLE: not set; it must be zeros or ones")
	}
	r, err := messages.ParseService(role)
	if err != nil {
		return c, fmt.Errorf("BAUM_ROLE: %w", err)
	}
	for _, v := range envVars {
		value := getenv(v.Name)
		if v.Name == "BAUM_ROLE" {
			value = string(r)
		}
		if value == "" {
			value = v.Default(r)
		}
		if err := v.set(&c, value); err != nil {
			if secretVars[v.Name] {
				errs = append(errs, fmt.Errorf("%s (value not shown): %w", v.Name, err))
			} else {
				errs = append(errs, fmt.Errorf("%s=%q: %w", v.Name, value, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports every value that parses but makes no sense.
func (c Config) Validate() error {
	var errs []error
	if c.ChunkSize < 1 || c.ChunkSize > messages.MaxChunkSize {
		errs = append(errs, fmt.Errorf("BAUM_CHUNK_SIZE=%d: must be from 1 to %d", c.ChunkSize, messages.MaxChunkSize))
	}
	if c.MaxUploadBytes < 0 {
		errs = append(errs, fmt.Errorf("BAUM_MAX_UPLOAD_BYTES=%d: must not be negative", c.MaxUploadBytes))
	}
	if c.UploadWait < 0 || c.UploadWait > 10*time.Minute {
		errs = append(errs, fmt.Errorf("BAUM_UPLOAD_WAIT=%s: must be from 0s to 10m", c.UploadWait))
	}
	if c.StalledAfter < time.Minute {
		errs = append(errs, fmt.Errorf("BAUM_STALLED_UPLOAD_AFTER=%s: must be at least 1m", c.StalledAfter))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("BAUM_SHUTDOWN_TIMEOUT=%s: must be positive", c.ShutdownTimeout))
	}
	if c.StartupTimeout <= 0 {
		errs = append(errs, fmt.Errorf("BAUM_STARTUP_TIMEOUT=%s: must be positive", c.StartupTimeout))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("BAUM_DATA_DIR: must not be empty (staged files are kept there, whatever BAUM_STORAGE is)"))
	}
	if c.GroupPrefix == "" || strings.ContainsAny(c.GroupPrefix, " \t/") {
		errs = append(errs, fmt.Errorf("BAUM_CONSUMER_GROUP_PREFIX=%q: must be a non-empty name without spaces or slashes", c.GroupPrefix))
	}
	errs = append(errs, c.validateKafka(), c.validateStorage())
	if c.HTTPReadHeaderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("BAUM_HTTP_READ_HEADER_TIMEOUT=%s: must be positive", c.HTTPReadHeaderTimeout))
	}
	if c.HTTPIdleReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("BAUM_HTTP_IDLE_READ_TIMEOUT=%s: must be positive", c.HTTPIdleReadTimeout))
	}
	if c.HTTPMaxHeaderBytes < 4096 {
		errs = append(errs, fmt.Errorf("BAUM_HTTP_MAX_HEADER_BYTES=%d: must be at least 4096", c.HTTPMaxHeaderBytes))
	}
	if err := (logging.Config{Level: c.LogLevel, Format: c.LogFormat}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("BAUM_LOG_LEVEL / BAUM_LOG_FORMAT: %w", err))
	}
	if c.APITokensFile != "" {
		if _, err := ReadTokenFile(c.APITokensFile); err != nil {
			errs = append(errs, fmt.Errorf("BAUM_API_TOKENS_FILE=%q: %w", c.APITokensFile, err))
		}
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("BAUM_DATABASE_URL: must be a postgres:// URL"))
	}
	return errors.Join(errs...)
}

// validateKafka reports every bad Kafka setting.
func (c Config) validateKafka() error {
	var errs []error
	if err := (kafka.Config{Brokers: c.KafkaBrokers, Version: c.KafkaVersion, InstanceID: c.Instance}).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("BAUM_KAFKA_BROKERS / BAUM_KAFKA_VERSION / BAUM_INSTANCE: %w", err))
	}
	if err := c.KafkaTLS.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("BAUM_KAFKA_TLS_*: %w", err))
	}
	for _, f := range []struct{ name, file string }{{"BAUM_KAFKA_TLS_CA_FILE", c.KafkaTLS.CAFile},
		{"BAUM_KAFKA_TLS_CERT_FILE", c.KafkaTLS.CertFile}, {"BAUM_KAFKA_TLS_KEY_FILE", c.KafkaTLS.KeyFile}} {
		if f.file == "" {
			continue
		}
		if _, err := os.Stat(f.file); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", f.name, f.file, err))
		}
	}
	if err := c.KafkaSASL.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("BAUM_KAFKA_SASL_*: %w", err))
	}
	return errors.Join(errs...)
}

func positiveInt(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < 1 {
		return 0, errors.New("must be at least 1")
	}
	return n, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkAddr(v string) error {
	i := strings.LastIndexByte(v, ':')
	if i < 0 {
		return errors.New("not host:port or :port")
	}
	if p, err := strconv.Atoi(v[i+1:]); err != nil || p < 0 || p > 65535 {
		return errors.New("port is not a number from 0 to 65535")
	}
	return nil
}
