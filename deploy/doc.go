// Package deploy checks the files that deploy BAUM against what their tools
// and images document: the compose file and .env.example (compose-go, the
// images' own variables), the Dockerfile (BuildKit's parser), Prometheus and
// Grafana provisioning, the tables and links of the README and docs/, and
// Swagger UI in a real browser. It is a module of its own so that its heavy
// test-only dependencies (compose-go, BuildKit, chromedp) stay out of the
// graph of every program that imports BAUM's public packages.
package deploy
