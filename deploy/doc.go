// Package deploy checks the files that deploy BAUM against what their tools
// and images document: the compose file and .env.example (compose-go, the
// images' own variables), the Dockerfile (BuildKit's parser), Prometheus and
// Grafana provisioning, the tables and links of the README and docs/,
// Swagger UI in a real browser, and the size of the main module's code (no
// function over 60 lines, no file over 400). It is a module of its own so
// that its heavy test-only dependencies (compose-go, BuildKit, chromedp)
// stay out of the graph of every program that imports BAUM's public
// packages.
package deploy
