package main

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestHealthExitsZeroOnlyWhenReady(t *testing.T) {
	ready := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"not ready","kafka":"dial tcp: refused"}`))
			return
		}
		w.Write([]byte(`{"status":"ready"}`))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	// The container health check: no URL, the port from BAUM_HTTP_ADDR as the service has it.
	var out, errOut bytes.Buffer
	err := run([]string{"health"}, env(map[string]string{"BAUM_HTTP_ADDR": ":" + port}), nil, &out, &errOut)
	if err != nil {
		t.Fatalf("ready service: %v", err)
	}
	if !strings.Contains(out.String(), "ready") {
		t.Errorf("output %q", out.String())
	}

	// A service's base URL is asked for /readyz.
	for _, base := range []string{srv.URL, srv.URL + "/"} {
		if err := run([]string{"health", base}, env(nil), nil, &out, &errOut); err != nil {
			t.Errorf("health %s: %v", base, err)
		}
	}
	if err := run([]string{"health", "127.0.0.1:8000"}, env(nil), nil, &out, &errOut); exitCode(err) != exitUsage {
		t.Errorf("a URL without a scheme: %v; want a usage error", err)
	}

	ready = false
	err = run([]string{"health", srv.URL + "/readyz"}, env(nil), nil, &out, &errOut)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("not ready service: err %v, exit %d; want exit 1", err, exitCode(err))
	}
	if !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "kafka") {
		t.Errorf("error %q should carry the status and what is not ready", err)
	}

	srv.Close()
	if err := run([]string{"health", "--timeout", "1s", srv.URL + "/readyz"}, env(nil), nil, &out, &errOut); exitCode(err) != 1 {
		t.Errorf("no service: err %v; want exit 1", err)
	}
}

func TestHealthDefaultURL(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"BAUM_HTTP_ADDR": ":8080"}, "http://127.0.0.1:8080/readyz"},
		{map[string]string{"BAUM_HTTP_ADDR": "0.0.0.0:8000"}, "http://127.0.0.1:8000/readyz"},
		{map[string]string{"BAUM_HTTP_ADDR": "[::]:9000"}, "http://127.0.0.1:9000/readyz"},
		{map[string]string{"BAUM_HTTP_ADDR": "10.1.2.3:9000"}, "http://10.1.2.3:9000/readyz"},
		{map[string]string{"BAUM_ROLE": "ones"}, "http://127.0.0.1:8080/readyz"},
		{map[string]string{}, "http://127.0.0.1:8000/readyz"},
	} {
		got, err := readyURL(env(c.env))
		if err != nil || got != c.want {
			t.Errorf("%v: %q, %v; want %q", c.env, got, err, c.want)
		}
	}
	if _, err := readyURL(env(map[string]string{"BAUM_HTTP_ADDR": "8000"})); err == nil {
		t.Error("BAUM_HTTP_ADDR without a colon accepted")
	}
	if err := run([]string{"health", "a", "b"}, env(nil), nil, &bytes.Buffer{}, &bytes.Buffer{}); exitCode(err) != 2 {
		t.Errorf("two URLs: %v; want a usage error", err)
	}
}
