package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// parseArgs parses flags wherever they stand among the arguments (baum send
// a.bin --wait 0 b.bin), up to a "--", and returns the other arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err}
		}
		// fs.Parse stops at the first argument that is not a flag, or
		// just after a "--", which ends the flags for good.
		left := fs.Args()
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			return append(rest, left...), nil
		}
		if len(left) == 0 {
			return rest, nil
		}
		rest = append(rest, left[0])
		args = left[1:]
	}
}

// kafkaFlags are the flags of the commands that talk to Kafka.
type kafkaFlags struct {
	brokers string
	version string
}

func addKafkaFlags(fs *flag.FlagSet, getenv func(string) string) *kafkaFlags {
	k := &kafkaFlags{}
	fs.StringVar(&k.brokers, "brokers", or(getenv("BAUM_KAFKA_BROKERS"), "127.0.0.1:9092"), "comma-separated Kafka bootstrap brokers ($BAUM_KAFKA_BROKERS sets the default)")
	fs.StringVar(&k.version, "kafka-version", or(getenv("BAUM_KAFKA_VERSION"), "3.6.0"), "Kafka protocol version ($BAUM_KAFKA_VERSION sets the default)")
	return k
}

func (k *kafkaFlags) config() (kafkaclient.Config, error) {
	var brokers []string
	for _, b := range strings.Split(k.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	c := kafkaclient.Config{Brokers: brokers, Version: k.version, ClientID: "baum-cli"}
	if err := c.Validate(); err != nil {
		return c, usageError{err}
	}
	return c, nil
}

// serviceFlags are the flags of the commands that talk to the services' HTTP APIs.
type serviceFlags struct {
	url     map[messages.Service]*string
	service string
	// token is --token, envToken $BAUM_TOKEN (kept apart, so that -h never
	// prints a token as the flag's default).
	token, envToken string
}

func addServiceFlags(fs *flag.FlagSet, getenv func(string) string) *serviceFlags {
	s := &serviceFlags{url: map[messages.Service]*string{}}
	s.url[messages.Zeros] = fs.String("zeros", or(getenv("BAUM_ZEROS_URL"), "http://127.0.0.1:8000"), "base URL of the zeros service ($BAUM_ZEROS_URL sets the default)")
	s.url[messages.Ones] = fs.String("ones", or(getenv("BAUM_ONES_URL"), "http://127.0.0.1:8080"), "base URL of the ones service ($BAUM_ONES_URL sets the default)")
	fs.StringVar(&s.service, "service", "both", "which service to ask: zeros, ones or both")
	fs.StringVar(&s.token, "token", "", "bearer token of the services' APIs, if they ask for one (default $BAUM_TOKEN, which keeps it out of ps)")
	s.envToken = getenv("BAUM_TOKEN")
	return s
}

// services returns the services to ask, zeros first.
func (s *serviceFlags) services() ([]messages.Service, error) {
	if s.service == "both" {
		return messages.Services(), nil
	}
	svc, err := messages.ParseService(s.service)
	if err != nil {
		return nil, usagef("--service: %v (or both)", err)
	}
	return []messages.Service{svc}, nil
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// flagUsage sets a command's usage text: a synopsis, a description and its flags.
func flagUsage(fs *flag.FlagSet, synopsis, description string) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n\nFlags:\n", synopsis, description)
		fs.PrintDefaults()
	}
}
