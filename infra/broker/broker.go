// Package broker runs an in-process broker that speaks the Kafka wire
// protocol (franz-go's kfake), for local use and tests on machines without
// Kafka. The services talk to it over TCP exactly as to a real Kafka, with
// the same Sarama code path. It is not for production.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/baum-store/baum/messages"
)

// Config configures a Broker.
type Config struct {
	// Port to listen on, on 127.0.0.1. 0 picks a free port.
	Port int
	// DataDir keeps topics, offsets and groups across restarts; "" keeps
	// everything in memory.
	DataDir string
	// Partitions per topic. Default 10.
	Partitions int
	// MaxMessageBytes is the broker's message.max.bytes. Default 1048588,
	// Kafka's default.
	MaxMessageBytes int
	// TLS, if set, makes the broker accept TLS connections only.
	TLS *tls.Config
	// Users, if any, makes the broker require SASL authentication: each
	// logs in with its own mechanism.
	Users []User
	// Listen, if set, opens the broker's listener instead of net.Listen.
	// Tests wrap it to cut or stall the broker's connections: clients learn
	// the broker's address from its metadata and connect to it directly, so
	// faults must sit in the broker's own listener, not in a proxy in front.
	Listen func(network, address string) (net.Listener, error)
}

// User is one SASL login the broker accepts.
type User struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string
	Name      string
	Password  string
}

// ParseUser reads a user written MECHANISM:name:password.
func ParseUser(s string) (User, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[1] == "" {
		return User{}, fmt.Errorf("SASL user %q is not MECHANISM:name:password", s)
	}
	u := User{Mechanism: strings.ToUpper(parts[0]), Name: parts[1], Password: parts[2]}
	return u, u.validate()
}

func (u User) validate() error {
	switch u.Mechanism {
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("SASL mechanism %q of user %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", u.Mechanism, u.Name)
	}
	if u.Name == "" {
		return errors.New("a SASL user has no name")
	}
	return nil
}

func (c *Config) setDefaults() {
	if c.Partitions == 0 {
		c.Partitions = 10
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 1048588
	}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is out of range", c.Port))
	}
	if c.Partitions < 1 {
		errs = append(errs, fmt.Errorf("partitions %d must be at least 1", c.Partitions))
	}
	if c.MaxMessageBytes < 1024 {
		errs = append(errs, fmt.Errorf("max message bytes %d is too small", c.MaxMessageBytes))
	}
	for _, u := range c.Users {
		errs = append(errs, u.validate())
	}
	return errors.Join(errs...)
}

// Broker is a running single-node cluster.
type Broker struct {
	cluster *kfake.Cluster
	stats   *stats
	stop    context.CancelFunc
	done    chan struct{}
}

// The janitor (see janitor.go) looks for dead group members this often, and
// allows a member this much silence beyond its session and rebalance
// timeouts.
const (
	janitorInterval = 2 * time.Second
	janitorMargin   = 5 * time.Second
)

// Start starts a broker with BAUM's topics created, plus auto-creation for
// any other topic (the poison topic, a client's experiments).
func Start(config Config, logger *slog.Logger) (*Broker, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(config.Partitions),
		kfake.SeedTopics(int32(config.Partitions), append(messages.Topics(), messages.TopicPoison)...),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(config.MaxMessageBytes)}),
	}
	if config.Port != 0 {
		opts = append(opts, kfake.Ports(config.Port))
	}
	if config.DataDir != "" {
		opts = append(opts, kfake.DataDir(config.DataDir))
	}
	if config.TLS != nil {
		opts = append(opts, kfake.TLS(config.TLS))
	}
	if len(config.Users) > 0 {
		// Superusers: the broker has no ACLs to check; a login is enough.
		opts = append(opts, kfake.EnableSASL())
		for _, u := range config.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if config.Listen != nil {
		opts = append(opts, kfake.ListenFn(config.Listen))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start broker: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	b := &Broker{cluster: cluster, stats: newStats(cluster), stop: stop, done: make(chan struct{})}
	j := newJanitor(logger, janitorMargin)
	j.watch(cluster)
	go func() {
		defer close(b.done)
		j.run(ctx, b.Addrs()[0], janitorInterval, config.clientOpts()...)
	}()
	logger.Info("Kafka-protocol broker listening", "addrs", b.Addrs(), "data_dir", config.DataDir, "partitions", config.Partitions,
		"tls", config.TLS != nil, "sasl_users", len(config.Users))
	return b, nil
}

// Addrs returns the host:port addresses the broker listens on.
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Cluster exposes the kfake cluster to tests (fault injection, group info).
func (b *Broker) Cluster() *kfake.Cluster { return b.cluster }

// Close stops the broker; with a DataDir, its state is flushed to disk.
func (b *Broker) Close() {
	b.stop()
	<-b.done
	b.cluster.Close()
}

// clientOpts lets the broker's own client (the group janitor) in: over TLS
// to itself on loopback, and as its first SASL user.
func (c Config) clientOpts() []kgo.Opt {
	var opts []kgo.Opt
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})) //nolint:gosec // itself, on loopback
	}
	if len(c.Users) > 0 {
		u := c.Users[0]
		switch u.Mechanism {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: u.Name, Pass: u.Password}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: u.Name, Pass: u.Password}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: u.Name, Pass: u.Password}.AsSha512Mechanism()))
		}
	}
	return opts
}
