// Package http is a service's HTTP port: chi routes that only map requests
// to the command bus (uploads, deletes) and to queries (read models), and
// answers to JSON; with the OpenAPI document of it all and Swagger UI. Every request carries a correlation id (X-Correlation-ID, generated
// if absent) into the messages it causes and the log lines it writes.
package http

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/baum-store/baum/app"
	"github.com/baum-store/baum/messages"
)

// Config configures the HTTP port.
type Config struct {
	// MaxUploadBytes is the largest file an upload may carry. Default 10 GiB.
	MaxUploadBytes int64
	// UploadWait is how long POST /data/upload waits for the placement before
	// answering 202. Default 30 s; a request may ask for another with ?wait=.
	UploadWait time.Duration
	// MaxUploadWait caps ?wait=. Default 10 min.
	MaxUploadWait time.Duration
	// IdleReadTimeout is how long an upload's body may stall, no byte
	// arriving, before the upload is cut off with 408 and dropped.
	// net/http has only a deadline for the whole request, which would cut
	// off large uploads on slow links; this one moves as data flows.
	// Default 1 min.
	IdleReadTimeout time.Duration
	// MetricsApart leaves GET /metrics out: it is served on an address of
	// its own (BAUM_METRICS_ADDR).
	MetricsApart bool
}

// DefaultMaxUploadBytes is the default upload size limit.
const DefaultMaxUploadBytes = 10 << 30

func (c *Config) setDefaults() {
	if c.MaxUploadBytes == 0 {
		c.MaxUploadBytes = DefaultMaxUploadBytes
	}
	if c.UploadWait == 0 {
		c.UploadWait = 30 * time.Second
	}
	if c.MaxUploadWait == 0 {
		c.MaxUploadWait = 10 * time.Minute
	}
	if c.IdleReadTimeout == 0 {
		c.IdleReadTimeout = time.Minute
	}
}

// Validate reports every bad field.
func (c Config) Validate() error {
	var errs []error
	if c.MaxUploadBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxUploadBytes %d is negative", c.MaxUploadBytes))
	}
	if c.IdleReadTimeout < 0 {
		errs = append(errs, fmt.Errorf("IdleReadTimeout %s is negative", c.IdleReadTimeout))
	}
	if c.UploadWait < 0 || c.MaxUploadWait < 0 || c.UploadWait > c.MaxUploadWait && c.MaxUploadWait > 0 {
		errs = append(errs, fmt.Errorf("UploadWait %s must be between 0 and MaxUploadWait %s", c.UploadWait, c.MaxUploadWait))
	}
	return errors.Join(errs...)
}

// Readiness tells whether the service can do its work.
type Readiness interface {
	// Ready runs every readiness check and returns each one's result by
	// name ("ok" or what is wrong), and whether all passed.
	Ready(ctx context.Context) (map[string]string, bool)
	// Accepting reports why uploads and deletes cannot be accepted now (nil
	// if they can): a dependency they need is down.
	Accepting(ctx context.Context) error
}

// Deps are what the HTTP port maps requests to.
type Deps struct {
	// Self is the service this port serves.
	Self messages.Service
	// Instance names the replica of Self that answers (BAUM_INSTANCE):
	// readiness says it, so that behind a proxy an operator can tell which
	// replica answered.
	Instance string
	// App holds the use cases every route maps to.
	App       app.Application
	Readiness Readiness
	Metrics   Metrics
	Log       *slog.Logger
	// Auth checks the bearer tokens of the file endpoints; nil lets every
	// request in (authentication off). Health, readiness, metrics and the
	// docs are always open.
	Auth *Authenticator
}

// Metrics records what the HTTP port sees and serves GET /metrics.
type Metrics interface {
	ObserveHTTP(route, method string, status int, d time.Duration)
	UploadAccepted(size int64)
	UploadRejected()
	Handler() http.Handler
}

// Server maps HTTP to the application.
type Server struct {
	config     Config
	deps       Deps
	router     chi.Router
	openAPIDoc []byte
	docsUI     http.Handler
}

// NewServer returns the HTTP port of a service.
func NewServer(config Config, deps Deps) (*Server, error) {
	config.setDefaults()
	if err := config.Validate(); err != nil {
		return nil, err
	}
	doc, err := OpenAPIDocument(deps.Self)
	if err != nil {
		return nil, err
	}
	s := &Server{config: config, deps: deps, openAPIDoc: doc, docsUI: newDocs(deps.Self)}
	r := chi.NewRouter()
	// Every GET answers HEAD too (RFC 9110 §9.3.2): the same headers, no body.
	r.Use(s.correlate, s.logRequests, s.recoverPanics, middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	r.MethodNotAllowed(s.methodNotAllowed)
	// GET /data/upload would otherwise match GET /data/{id}.
	r.Handle("/data/upload", onlyMethods{http.MethodPost})
	r.With(s.require(ScopeWrite)).Post("/data/upload", s.upload)
	r.With(s.require(ScopeWrite)).Delete("/data/{id}", s.deleteFile)
	read := r.With(s.require(ScopeRead))
	read.Get("/data", s.listFiles)
	read.Get("/data/{id}", s.getFile)
	read.Get("/data/{id}/content", s.getContent)
	read.Head("/data/{id}/content", s.getContent)
	read.Get("/data/uploads/{id}", s.getUpload)
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	if !config.MetricsApart {
		r.Method(http.MethodGet, "/metrics", deps.Metrics.Handler())
	}
	r.Get("/openapi.json", s.openAPI)
	r.Get(docsBase, s.docs)
	r.Get(docsBase+"/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", docsBase)
		w.WriteHeader(http.StatusMovedPermanently)
	})
	r.Get(docsBase+"/{asset}", s.docs)
	s.router = r
	return s, nil
}

// methodNotAllowed answers 405 with Allow, the methods the path serves
// (RFC 9110 §15.5.6).
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if s.router.Match(chi.NewRouteContext(), m, r.URL.Path) ||
			m == http.MethodHead && s.router.Match(chi.NewRouteContext(), http.MethodGet, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
}

// onlyMethods answers 405 with Allow for every method a path does not
// serve, where a broader route (GET /data/{id}) would otherwise match.
type onlyMethods []string

func (m onlyMethods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", strings.Join(m, ", "))
	writeError(w, r, http.StatusMethodNotAllowed, fmt.Sprintf("method %s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(m, " or ")))
}

// Route is one method and path pattern the API serves.
type Route struct {
	Method  string
	Pattern string
}

// Routes lists every route the router serves (not the 405 guards), sorted.
// The OpenAPI document must describe exactly these.
func (s *Server) Routes() ([]Route, error) {
	var routes []Route
	err := chi.Walk(s.router, func(method, pattern string, h http.Handler, _ ...func(http.Handler) http.Handler) error {
		if _, guard := h.(onlyMethods); !guard {
			routes = append(routes, Route{Method: method, Pattern: pattern})
		}
		return nil
	})
	slices.SortFunc(routes, func(a, b Route) int {
		return cmp.Or(strings.Compare(a.Pattern, b.Pattern), strings.Compare(a.Method, b.Method))
	})
	return routes, err
}

// Router exposes the routes, so other ports (docs, metrics) can be mounted.
func (s *Server) Router() chi.Router { return s.router }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }
