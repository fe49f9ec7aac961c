package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/messages"
)

// apiClient talks to the services' HTTP APIs.
type apiClient struct {
	url   map[messages.Service]string
	http  *http.Client
	token string // sent as a bearer token if not empty
}

func newAPI(flags *serviceFlags) (*apiClient, error) {
	a := &apiClient{url: map[messages.Service]string{}, http: &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		ResponseHeaderTimeout: 60 * time.Second,
	}}, token: or(flags.token, flags.envToken)}
	for svc, u := range flags.url {
		parsed, err := url.Parse(*u)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return nil, usagef("--%s %q is not an http:// or https:// URL", svc, *u)
		}
		a.url[svc] = strings.TrimSuffix(*u, "/")
	}
	return a, nil
}

// apiError is an answer other than the one expected.
type apiError struct {
	svc     messages.Service
	status  int
	message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.svc, e.status, e.message)
}

func (a *apiClient) get(ctx context.Context, svc messages.Service, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url[svc]+path, nil)
	if err != nil {
		return nil, err
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := a.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", svc, err)
	}
	if res.StatusCode != http.StatusOK {
		defer res.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		if res.StatusCode == http.StatusUnauthorized && a.token == "" {
			e.Error += " (give one with --token or $BAUM_TOKEN)"
		}
		return nil, &apiError{svc: svc, status: res.StatusCode, message: e.Error}
	}
	return res, nil
}

func (a *apiClient) getJSON(ctx context.Context, svc messages.Service, path string, v any) error {
	res, err := a.get(ctx, svc, path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("%s: GET %s: the answer is not the expected JSON: %w", svc, path, err)
	}
	return nil
}

// list returns every file svc holds, all pages, and its totals.
func (a *apiClient) list(ctx context.Context, svc messages.Service) ([]api.File, api.FileList, error) {
	var files []api.File
	var first api.FileList
	after := ""
	for i := 0; ; i++ {
		var p api.FileList
		if err := a.getJSON(ctx, svc, "/data?limit=1000"+after, &p); err != nil {
			return nil, api.FileList{}, err
		}
		if i == 0 {
			first = p
		}
		for _, f := range p.ListMetadata {
			files = append(files, f)
		}
		if p.Next == nil {
			return files, first, nil
		}
		after = "&after=" + url.QueryEscape(*p.Next)
	}
}

// file returns one file's metadata from svc; errNotFound if svc does not hold it.
func (a *apiClient) file(ctx context.Context, svc messages.Service, id string) (api.File, error) {
	var f api.File
	err := a.getJSON(ctx, svc, "/data/"+id, &f)
	if e := (*apiError)(nil); errors.As(err, &e) && e.status == http.StatusNotFound {
		return f, fmt.Errorf("%s holds no file %s: %w", svc, id, errNotFound)
	}
	return f, err
}

// holders asks each service whether it holds the file; it returns the
// metadata of the first that does and every service that does.
func (a *apiClient) holders(ctx context.Context, services []messages.Service, id string) (api.File, []messages.Service, error) {
	var meta api.File
	var held []messages.Service
	for _, svc := range services {
		f, err := a.file(ctx, svc, id)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return meta, nil, err
		}
		if held == nil {
			meta = f
		}
		held = append(held, svc)
	}
	if held == nil {
		return meta, nil, fmt.Errorf("no file %s in %s: %w", id, joinServices(services), errNotFound)
	}
	return meta, held, nil
}

// content opens the bytes of a file svc holds.
func (a *apiClient) content(ctx context.Context, svc messages.Service, id string) (io.ReadCloser, error) {
	res, err := a.get(ctx, svc, "/data/"+id+"/content")
	if e := (*apiError)(nil); errors.As(err, &e) && e.status == http.StatusNotFound {
		if strings.Contains(e.message, "no such endpoint") {
			return nil, fmt.Errorf("%s serves no GET /data/{id}/content (an older BAUM?)", svc)
		}
		return nil, fmt.Errorf("%s holds no file %s: %w", svc, id, errNotFound)
	}
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

func joinServices(s []messages.Service) string {
	names := make([]string, len(s))
	for i, svc := range s {
		names[i] = string(svc)
	}
	return strings.Join(names, ",")
}
