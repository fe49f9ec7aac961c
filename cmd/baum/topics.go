package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/baum-store/baum/infra/kafka"
)

// topicsCmd creates BAUM's topics on a Kafka cluster, or brings the settings
// of existing ones up to date. docker-compose.yaml runs it once before the
// services start.
func topicsCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	orDefault := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	brokers := fs.String("brokers", orDefault("BAUM_KAFKA_BROKERS", "127.0.0.1:9092"), "comma-separated Kafka bootstrap brokers (default $BAUM_KAFKA_BROKERS)")
	version := fs.String("kafka-version", orDefault("BAUM_KAFKA_VERSION", "3.6.0"), "Kafka protocol version (default $BAUM_KAFKA_VERSION)")
	var t kafka.TopicsConfig
	partitions := fs.Int("partitions", 12, "partitions per topic: the most instances of one service that can share the work")
	replication := fs.Int("replication-factor", 1, "replicas of each partition (at most the number of brokers)")
	fs.DurationVar(&t.ChunkRetention, "chunk-retention", 24*time.Hour, "how long chunk commands (file bytes) stay in Kafka")
	fs.DurationVar(&t.Retention, "retention", 7*24*time.Hour, "how long the other commands and the events stay in Kafka")
	fs.DurationVar(&t.PoisonRetention, "poison-retention", 30*24*time.Hour, "how long poisoned messages stay in Kafka")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for Kafka")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *partitions < 1 || *partitions > 1<<20 || *replication < 1 || *replication > 1<<10 {
		return usageError{errors.New("--partitions and --replication-factor must be positive")}
	}
	t.Partitions, t.ReplicationFactor = int32(*partitions), int16(*replication)
	conn := kafka.Config{Brokers: splitComma(*brokers), Version: *version, ClientID: "baum-topics"}
	if err := conn.Validate(); err != nil {
		return usageError{err}
	}
	if err := t.Validate(); err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	results, err := kafka.EnsureTopics(ctx, conn, t)
	for _, r := range results {
		what := "updated"
		if r.Created {
			what = "created"
		}
		fmt.Fprintf(stdout, "%s %s (%d partitions)\n", what, r.Name, r.Partitions)
		if r.Warning != "" {
			fmt.Fprintf(stderr, "warning: %s %s\n", r.Name, r.Warning)
		}
	}
	return err
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
