package deploy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
)

// chromium finds a Chromium to drive. Without one the browser test skips,
// except in CI (CI=true), where .ci/run installs it and its absence is a
// failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := "no Chromium on PATH; install it (Debian: apt-get install -y chromium) to run the browser test"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// A person opens /docs, gives Swagger UI's "Authorize" the API token,
// uploads a file through "Try it out" and reads the 201 answer; every
// request the page makes goes to the service itself.
func TestSwaggerUIUploadsAFileInABrowser(t *testing.T) {
	browser := chromium(t)
	const token = "browser-token-27c4f9e0b1d6a3"
	sys := testsystem.Start(t, map[string]string{"BAUM_API_TOKENS": "browser:write:" + token})
	base := sys.URL[messages.Zeros]
	dir := t.TempDir()
	upload := filepath.Join(dir, "from-the-browser.bin")
	data := bytes.Repeat([]byte{0xFF, 0xF0}, 2048) // more one bits: ones keeps it
	if err := os.WriteFile(upload, data, 0o600); err != nil {
		t.Fatal(err)
	}

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(filepath.Join(dir, "profile")),
		chromedp.WindowSize(1280, 2000),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline of its own
		t.Fatalf("start %s: %v", browser, err)
	}
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelTimeout()

	// Every URL the page requests, to prove it needs nothing from elsewhere.
	var (
		mu   sync.Mutex
		urls []string
	)
	requests := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			mu.Lock()
			urls = append(urls, ev.Request.URL)
			mu.Unlock()
		}
	}()

	op := "#operations-files-uploadFile"
	screenshot := func(name string) { // quality 100: a PNG
		if buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, buf, 0o600); err == nil {
				t.Logf("screenshot: %s", path)
			}
		}
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/docs"),
		chromedp.WaitVisible(chromedp.CSS(op+" .opblock-summary")),
		// Authorize: the bearer scheme of the OpenAPI document.
		chromedp.Click(chromedp.CSS(".auth-wrapper .btn.authorize"), chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.CSS("#auth-bearer-value"), token, chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .btn.modal-btn.auth.authorize"), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(".auth-btn-wrapper .btn-done"), chromedp.NodeVisible),
		chromedp.WaitNotPresent(chromedp.CSS(".dialog-ux")),
		chromedp.Click(chromedp.CSS(op+" .opblock-summary"), chromedp.NodeVisible),
		chromedp.Click(chromedp.CSS(op+" .try-out__btn"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(op+` input[type="file"]`)),
		chromedp.SetUploadFiles(chromedp.CSS(op+` input[type="file"]`), []string{upload}),
		chromedp.Click(chromedp.CSS(op+" .execute"), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")),
	)
	if err != nil {
		screenshot("failed.png")
		t.Fatalf("drive Swagger UI: %v", err)
	}
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_status")))
	if err != nil {
		t.Fatal(err)
	}
	body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(op+" .live-responses-table tbody .response-col_description pre")))
	if err != nil {
		t.Fatal(err)
	}
	screenshot("docs-upload.png")
	if !strings.HasPrefix(strings.TrimSpace(status), "201") {
		t.Fatalf("Swagger UI shows status %q: %s", status, body)
	}
	var f api.File
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatalf("the answer shown is not the file's JSON (%v): %s", err, body)
	}
	if f.Name != "from-the-browser.bin" || f.Size != int64(len(data)) || f.SHA256 != fmt.Sprintf("%x", sha256.Sum256(data)) ||
		!slices.Equal(f.StoredIn, []messages.Service{messages.Ones}) {
		t.Errorf("Swagger UI shows %+v", f)
	}
	req, _ := http.NewRequest(http.MethodGet, sys.URL[messages.Ones]+"/data/"+f.ID+"/content", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if res := testsystem.Do(t, req); res.Status != http.StatusOK || !bytes.Equal(res.Body, data) {
		t.Errorf("ones does not serve the file uploaded in the browser: %d", res.Status)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(urls) < 5 {
		t.Errorf("the page made only %d requests: %v", len(urls), urls)
	}
	for _, u := range urls {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the page requested %s, which is not the service itself", u)
		}
	}
}
