package service

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	httpport "github.com/baum-store/baum/handlers/http"
)

// tokenFileInterval is how often BAUM_API_TOKENS_FILE is read again.
const tokenFileInterval = 2 * time.Second

// maxTokenFile is the largest token file read: thousands of tokens.
const maxTokenFile = 1 << 20

// ReadTokenFile reads the API tokens of a token file (see
// httpport.ParseTokens). Its errors never show a token.
func ReadTokenFile(path string) ([]httpport.Token, error) {
	tokens, _, err := readTokenFile(path)
	return tokens, err
}

func readTokenFile(path string) ([]httpport.Token, [sha256.Size]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, [sha256.Size]byte{}, err
	}
	if len(raw) > maxTokenFile {
		return nil, [sha256.Size]byte{}, fmt.Errorf("larger than %d bytes", maxTokenFile)
	}
	tokens, err := httpport.ParseTokens(string(raw))
	return tokens, sha256.Sum256(raw), err
}

// newAuthenticator returns the HTTP API's token check, or nil (and a
// warning) when no token is configured.
func (s *Service) newAuthenticator() (*httpport.Authenticator, error) {
	if !s.config.Authenticated() {
		s.log.Warn("the HTTP API asks for no token: anyone who reaches it can upload, read and delete files; set BAUM_API_TOKENS or BAUM_API_TOKENS_FILE (see docs/security.md)")
		return nil, nil
	}
	tokens := slices.Clone(s.config.APITokens)
	if s.config.APITokensFile != "" {
		fromFile, sum, err := readTokenFile(s.config.APITokensFile)
		if err != nil {
			return nil, fmt.Errorf("BAUM_API_TOKENS_FILE=%q: %w", s.config.APITokensFile, err)
		}
		s.tokenFileSum = sum
		tokens = append(tokens, fromFile...)
	}
	s.logTokens("the HTTP API asks for a bearer token", tokens)
	return httpport.NewAuthenticator(tokens), nil
}

// watchTokens reads the token file again now and then until ctx ends: a
// token added to it is accepted, a token removed is refused from then on. A
// file that cannot be read or holds a bad entry changes nothing (and says so
// in the log).
func (s *Service) watchTokens(ctx context.Context, interval time.Duration) {
	if s.auth == nil || s.config.APITokensFile == "" {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fromFile, sum, err := readTokenFile(s.config.APITokensFile)
		if err != nil {
			if sum != s.tokenFileSum {
				s.log.Error("cannot use the changed token file; the tokens stay as they were", "file", s.config.APITokensFile, "error", err)
				s.tokenFileSum = sum
			}
			continue
		}
		if sum == s.tokenFileSum {
			continue
		}
		s.tokenFileSum = sum
		tokens := append(slices.Clone(s.config.APITokens), fromFile...)
		s.auth.Replace(tokens)
		s.logTokens("API tokens read again", tokens)
	}
}

// logTokens logs which tokens are accepted: their names and scopes.
func (s *Service) logTokens(msg string, tokens []httpport.Token) {
	names := make([]string, len(tokens))
	for i, t := range tokens {
		names[i] = t.String()
	}
	if len(tokens) == 0 {
		s.log.Warn(msg+": no token is configured, so every request to /data is refused", "file", s.config.APITokensFile)
		return
	}
	s.log.Info(msg, "tokens", names, "file", s.config.APITokensFile)
}

// serveMetricsApart serves /metrics on BAUM_METRICS_ADDR.
func (s *Service) serveMetricsApart(handler http.Handler) error {
	l, err := net.Listen("tcp", s.config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", s.config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", handler)
	s.metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.metricsListener = l
	go s.metrics.Serve(l)
	s.log.Info("metrics listening", "addr", l.Addr().String())
	return nil
}

// MetricsAddr is where /metrics is served apart from the API ("" if it is
// not).
func (s *Service) MetricsAddr() string {
	if s.metricsListener == nil {
		return ""
	}
	return s.metricsListener.Addr().String()
}
