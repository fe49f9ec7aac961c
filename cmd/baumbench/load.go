package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client is the HTTP client of every request: enough idle connections for
// the highest concurrency, so no run pays for new connections.
var client = &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128}}

// uploadAnswer is the part of a 201 body the benchmark checks.
type uploadAnswer struct {
	ID       string   `json:"id"`
	Size     int64    `json:"size"`
	SHA256   string   `json:"sha256"`
	StoredIn []string `json:"stored_in"`
}

// smallBody is one prepared multipart request body.
type smallBody struct {
	body        []byte
	contentType string
}

// smallSizes are the small files' sizes of the mix, 1 KiB to 64 KiB.
var smallSizes = []int{1 << 10, 2 << 10, 4 << 10, 8 << 10, 16 << 10, 32 << 10, 64 << 10}

// smallBodies prepares n request bodies of random files, their sizes taken
// in turn from sizes.
func smallBodies(n int, sizes []int) []smallBody {
	r := rand.NewChaCha8([32]byte{'b', 'a', 'u', 'm'})
	out := make([]smallBody, n)
	for i := range out {
		data := make([]byte, sizes[i%len(sizes)])
		r.Read(data)
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", fmt.Sprintf("small-%d.bin", i))
		fw.Write(data)
		mw.Close()
		out[i] = smallBody{buf.Bytes(), mw.FormDataContentType()}
	}
	return out
}

// loadResult is one timed run of small uploads.
type loadResult struct {
	uploads   int
	failures  int
	firstFail string
	elapsed   time.Duration
	latencies []time.Duration // of the successful uploads, to their 201
}

func (r loadResult) perSecond() float64 { return float64(r.uploads) / r.elapsed.Seconds() }

// smallLoad keeps concurrency uploads going for duration, spread over the
// services in turn, and times each to its 201.
func smallLoad(ctx context.Context, urls []string, bodies []smallBody, concurrency int, duration time.Duration) loadResult {
	var (
		mu   sync.Mutex
		res  loadResult
		next atomic.Int64
		wg   sync.WaitGroup
	)
	deadline := time.Now().Add(duration)
	begin := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				i := next.Add(1)
				b := bodies[int(i)%len(bodies)]
				url := urls[int(i)%len(urls)] + "/data/upload"
				t0 := time.Now()
				err := postSmall(ctx, url, b)
				took := time.Since(t0)
				mu.Lock()
				if err != nil {
					res.failures++
					if res.firstFail == "" {
						res.firstFail = err.Error()
					}
				} else {
					res.uploads++
					res.latencies = append(res.latencies, took)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(begin)
	return res
}

func postSmall(ctx context.Context, url string, b smallBody) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", b.contentType)
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}

// bigFile writes size random bytes to path and returns their SHA-256.
func bigFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	r := rand.NewChaCha8([32]byte{'b', 'i', 'g'})
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int(min(left, int64(len(buf))))
		r.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			return "", err
		}
		left -= int64(n)
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeTwice is the big upload's baseline: the same bytes written to the
// same filesystem twice, each copy flushed to disk (fsync), as the two
// services stage them with their default BAUM_FSYNC=true.
func writeTwice(src, dir string) (time.Duration, error) {
	t0 := time.Now()
	for _, name := range []string{"baseline-a", "baseline-b"} {
		if err := copyFile(src, dir+"/"+name); err != nil {
			return 0, err
		}
	}
	took := time.Since(t0)
	os.Remove(dir + "/baseline-a")
	os.Remove(dir + "/baseline-b")
	return took, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	// A chunk-sized buffer, as the services write chunk by chunk.
	if _, err := io.CopyBuffer(out, in, make([]byte, 256<<10)); err != nil {
		return err
	}
	return out.Sync()
}

// postBig streams the file at path as one multipart upload (never held in
// memory) and waits for the 201.
func postBig(ctx context.Context, url, path string, size int64) (uploadAnswer, time.Duration, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	if _, err := mw.CreateFormFile("file", "big.bin"); err != nil {
		return uploadAnswer{}, 0, err
	}
	n := head.Len()
	mw.Close()
	prefix, suffix := bytes.Clone(head.Bytes()[:n]), bytes.Clone(head.Bytes()[n:])
	f, err := os.Open(path)
	if err != nil {
		return uploadAnswer{}, 0, err
	}
	defer f.Close()
	body := io.MultiReader(bytes.NewReader(prefix), f, bytes.NewReader(suffix))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/data/upload?wait=10m", body)
	if err != nil {
		return uploadAnswer{}, 0, err
	}
	req.ContentLength = int64(len(prefix)) + size + int64(len(suffix))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	t0 := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return uploadAnswer{}, 0, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	took := time.Since(t0)
	if err != nil {
		return uploadAnswer{}, 0, err
	}
	if res.StatusCode != http.StatusCreated {
		return uploadAnswer{}, 0, fmt.Errorf("status %d: %s", res.StatusCode, bytes.TrimSpace(raw))
	}
	var a uploadAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		return uploadAnswer{}, 0, err
	}
	return a, took, nil
}

// listing is what GET /data answers, as far as the benchmark checks it.
type listing struct {
	TotalSize int64                      `json:"total_size"`
	Count     int64                      `json:"count"`
	List      map[string]json.RawMessage `json:"list_metadata"`
	Next      *string                    `json:"next"`
}

// getList times n sequential GET /data requests with query q.
func getList(ctx context.Context, url, q string, n int) ([]time.Duration, listing, error) {
	var (
		out  []time.Duration
		last listing
	)
	for range n {
		t0 := time.Now()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/data"+q, nil)
		if err != nil {
			return nil, last, err
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, last, err
		}
		raw, err := io.ReadAll(res.Body)
		res.Body.Close()
		took := time.Since(t0)
		if err != nil {
			return nil, last, err
		}
		if res.StatusCode != http.StatusOK {
			return nil, last, fmt.Errorf("GET /data%s: status %d: %s", q, res.StatusCode, raw)
		}
		last = listing{}
		if err := json.Unmarshal(raw, &last); err != nil {
			return nil, last, err
		}
		out = append(out, took)
	}
	return out, last, nil
}

// percentile returns the p-th percentile (0 < p ≤ 100) by nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}
