package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/handlers/http/api"
	"github.com/baum-store/baum/internal/testsystem"
	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/service"
)

// brokenUploads is an upload store with rows it can never write: every call
// about one of its broken ids fails as PostgreSQL fails a write that breaks
// a constraint. No retry can help such a message.
type brokenUploads struct {
	command.Uploads
	broken map[string]bool

	mu    sync.Mutex
	calls map[string]int
}

func newBrokenUploads() *brokenUploads {
	return &brokenUploads{broken: map[string]bool{}, calls: map[string]int{}}
}

// Break makes every call about these ids fail from now on.
func (b *brokenUploads) Break(ids ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		b.broken[id] = true
	}
}

func (b *brokenUploads) wrap(u command.Uploads) command.Uploads {
	return &brokenStore{brokenUploads: b, Uploads: u}
}

// Calls reports how often the broken id was asked for.
func (b *brokenUploads) Calls(id string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[id]
}

type brokenStore struct {
	*brokenUploads
	command.Uploads
}

func (b *brokenStore) fail(id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.broken[id] {
		return nil
	}
	b.calls[id]++
	return &pgconn.PgError{Severity: "ERROR", Code: "23514", TableName: "uploads",
		Message: `new row for relation "uploads" violates check constraint "uploads_state_check"`}
}

func (b *brokenStore) Get(ctx context.Context, id string) (*domain.Upload, error) {
	if err := b.fail(id); err != nil {
		return nil, err
	}
	return b.Uploads.Get(ctx, id)
}

func (b *brokenStore) Update(ctx context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	if err := b.fail(id); err != nil {
		return err
	}
	return b.Uploads.Update(ctx, id, fn)
}

func (b *brokenStore) DeleteFile(ctx context.Context, id string) (domain.File, bool, error) {
	if err := b.fail(id); err != nil {
		return domain.File{}, false, err
	}
	return b.Uploads.DeleteFile(ctx, id)
}

// poisonCase is one message that can never be processed.
type poisonCase struct {
	kind     string // malformed, unknown type, wrong version, wrong topic, handler fails
	name     string
	topic    string
	msg      *message.Message
	by       []messages.Service // the services that must poison it
	reason   string             // part of reason_poisoned
	attempts string             // attempts_poisoned
	calls    string             // a broken id whose store calls count the attempts
}

func marshal(t *testing.T, m messages.Message, edit func(message.Metadata)) *message.Message {
	t.Helper()
	msg, err := messages.Marshaler{}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(msg.Metadata)
	}
	return msg
}

func raw(name, key, payload string) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), []byte(payload))
	if name != "" {
		msg.Metadata.Set(messages.HeaderName, name)
	}
	msg.Metadata.Set(messages.HeaderPartitionKey, key)
	return msg
}

const abcSHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

// Malformed payloads, unknown types, wrong versions, messages on the wrong
// topic and messages whose handler always fails, on every topic the services
// consume: each ends in the poison topic with its reason, and later messages
// of the same partitions are handled.
func TestPoisonMessagesLeaveTheirPartitionAndLaterMessagesAreHandled(t *testing.T) {
	sys := startWithBroken(t)
	both := messages.Services()
	zeros := []messages.Service{messages.Zeros}

	// Per topic: ids whose messages share one partition of that topic.
	S := sys.IDsOnPartition(t, messages.TopicStoreChunk, 3)
	A := sys.IDsOnPartition(t, messages.TopicAbortUpload, 3)
	D := sys.IDsOnPartition(t, messages.TopicDeleteFile, 3)
	E := sys.IDsOnPartition(t, messages.TopicEvents, 4)
	sys.broken.Break(S[1], A[1], D[1], E[1])

	// The file that D's DeleteFile will remove, stored before the poison.
	sender := sys.Sender(t, 1000)
	if _, err := sender.Send(t.Context(), messages.File{UploadID: D[2], Name: "to-delete.bin"}, bytes.NewReader(make([]byte, 2500))); err != nil {
		t.Fatal(err)
	}
	waitPlaced(t, sys.System, D[2], zeros)

	chunk := func(id string) messages.StoreChunk {
		return messages.StoreChunk{UploadID: id, Data: []byte("abc"), Last: true, Size: 3, SHA256: abcSHA256, Name: "p.bin"}
	}
	count := func(id string, s messages.Service, n uint64) messages.BitsCounted {
		bit := map[messages.Service]string{messages.Zeros: "zero", messages.Ones: "one"}[s]
		return messages.BitsCounted{UploadID: id, Service: s, Bit: bit, Count: n, Size: 1, SHA256: abcSHA256, At: time.Now().UTC()}
	}
	setName := func(name string) func(message.Metadata) {
		return func(md message.Metadata) { md.Set(messages.HeaderName, name) }
	}
	malformed := "malformed message"
	cases := []poisonCase{
		// baum.commands.store-chunk
		{kind: "malformed", name: "chunk with a bad header", topic: messages.TopicStoreChunk,
			msg: marshal(t, chunk(S[0]), func(md message.Metadata) { md.Set(messages.HeaderChunkOffset, "x") }),
			by:  both, reason: `header chunk_offset "x" is not an integer`, attempts: "1"},
		{kind: "unknown type", name: "unknown type on store-chunk", topic: messages.TopicStoreChunk, msg: raw("baum.Bogus.v1", S[0], "{}"),
			by: both, reason: `unknown message type "baum.Bogus.v1"`, attempts: "1"},
		{kind: "unknown type", name: "no name on store-chunk", topic: messages.TopicStoreChunk, msg: raw("", S[0], "abc"),
			by: both, reason: `no "name" header`, attempts: "1"},
		{kind: "wrong version", name: "chunk of a newer version", topic: messages.TopicStoreChunk, msg: marshal(t, chunk(S[0]), setName("baum.StoreChunk.v2")),
			by: both, reason: `unknown message type "baum.StoreChunk.v2"`, attempts: "1"},
		{kind: "wrong topic", name: "abort on store-chunk", topic: messages.TopicStoreChunk, msg: marshal(t, messages.AbortUpload{UploadID: S[0]}, nil),
			by: both, reason: "baum.AbortUpload.v1 belongs on topic baum.commands.abort-upload, not baum.commands.store-chunk", attempts: "1"},
		{kind: "handler fails", name: "chunk whose handler always fails", topic: messages.TopicStoreChunk, msg: marshal(t, chunk(S[1]), nil),
			by: both, reason: "violates check constraint", attempts: "4", calls: S[1]},

		// baum.commands.abort-upload
		{kind: "malformed", name: "abort not JSON", topic: messages.TopicAbortUpload, msg: raw(messages.NameAbortUpload, A[0], "{"),
			by: both, reason: malformed + ": baum.AbortUpload.v1: unexpected end of JSON input", attempts: "1"},
		{kind: "unknown type", name: "unknown type on abort-upload", topic: messages.TopicAbortUpload, msg: raw("baum.CancelUpload.v1", A[0], "{}"),
			by: both, reason: `unknown message type "baum.CancelUpload.v1"`, attempts: "1"},
		{kind: "wrong version", name: "abort of an older version", topic: messages.TopicAbortUpload,
			msg: marshal(t, messages.AbortUpload{UploadID: A[0]}, setName("baum.AbortUpload.v0")),
			by:  both, reason: `unknown message type "baum.AbortUpload.v0"`, attempts: "1"},
		{kind: "wrong topic", name: "chunk on abort-upload", topic: messages.TopicAbortUpload, msg: marshal(t, chunk(A[0]), nil),
			by: both, reason: "baum.StoreChunk.v1 belongs on topic baum.commands.store-chunk", attempts: "1"},
		{kind: "handler fails", name: "abort whose handler always fails", topic: messages.TopicAbortUpload,
			msg: marshal(t, messages.AbortUpload{UploadID: A[1], Reason: "test"}, nil),
			by:  both, reason: "violates check constraint", attempts: "4", calls: A[1]},

		// baum.commands.delete-file
		{kind: "malformed", name: "delete of no id", topic: messages.TopicDeleteFile,
			msg: raw(messages.NameDeleteFile, D[0], `{"file_id": "../../etc/passwd", "service": "zeros"}`),
			by:  both, reason: `file_id "../../etc/passwd" is not a UUID`, attempts: "1"},
		{kind: "unknown type", name: "unknown type on delete-file", topic: messages.TopicDeleteFile, msg: raw("baum.PurgeAll.v1", D[0], "{}"),
			by: both, reason: `unknown message type "baum.PurgeAll.v1"`, attempts: "1"},
		{kind: "wrong version", name: "delete of a newer version", topic: messages.TopicDeleteFile,
			msg: marshal(t, messages.DeleteFile{FileID: D[0], Service: messages.Zeros}, setName("baum.DeleteFile.v2")),
			by:  both, reason: `unknown message type "baum.DeleteFile.v2"`, attempts: "1"},
		{kind: "wrong topic", name: "event on delete-file", topic: messages.TopicDeleteFile, msg: marshal(t, count(D[0], messages.Zeros, 8), nil),
			by: both, reason: "baum.BitsCounted.v1 belongs on topic baum.events", attempts: "1"},
		{kind: "handler fails", name: "delete whose handler always fails", topic: messages.TopicDeleteFile,
			msg: marshal(t, messages.DeleteFile{FileID: D[1], Service: messages.Zeros}, nil),
			by:  zeros, reason: "violates check constraint", attempts: "4", calls: D[1]},

		// baum.events
		{kind: "malformed", name: "count not JSON", topic: messages.TopicEvents, msg: raw(messages.NameBitsCounted, E[0], "not json"),
			by: both, reason: malformed + ": baum.BitsCounted.v1: invalid character", attempts: "1"},
		{kind: "malformed", name: "stored file whose counts do not add up", topic: messages.TopicEvents,
			msg: raw(messages.NameFileStored, E[0], fmt.Sprintf(`{"file_id":%q,"service":"ones","size":1,"sha256":%q,"zero_bits":1,"one_bits":1}`, E[0], abcSHA256)),
			by:  both, reason: "zero_bits 1 + one_bits 1 is not 8 × size 1", attempts: "1"},
		{kind: "unknown type", name: "unknown type on events", topic: messages.TopicEvents, msg: raw("baum.FileRenamed.v1", E[0], "{}"),
			by: both, reason: `unknown message type "baum.FileRenamed.v1"`, attempts: "1"},
		{kind: "wrong version", name: "count of a future version", topic: messages.TopicEvents, msg: marshal(t, count(E[0], messages.Zeros, 8), setName("baum.BitsCounted.v9")),
			by: both, reason: `unknown message type "baum.BitsCounted.v9"`, attempts: "1"},
		{kind: "wrong topic", name: "command on events", topic: messages.TopicEvents, msg: marshal(t, messages.DeleteFile{FileID: E[0], Service: messages.Ones}, nil),
			by: both, reason: "baum.DeleteFile.v1 belongs on topic baum.commands.delete-file", attempts: "1"},
		{kind: "handler fails", name: "count whose handler always fails", topic: messages.TopicEvents, msg: marshal(t, count(E[1], messages.Zeros, 8), nil),
			by: both, reason: "violates check constraint", attempts: "4", calls: E[1]},
		// A real one: counts that make zeros the keeper of a file it never
		// staged (replayed from another installation). zeros cannot store
		// it, however often it tries; ones only drops its (absent) copy.
		{kind: "handler fails", name: "counts for a file never staged", topic: messages.TopicEvents, msg: marshal(t, count(E[2], messages.Ones, 0), nil),
			by: zeros, reason: "upload " + E[2] + " has no staged file", attempts: "4"},
	}
	// Every kind of poison on every topic the services consume.
	for _, topic := range messages.Topics() {
		for _, kind := range []string{"malformed", "unknown type", "wrong version", "wrong topic", "handler fails"} {
			if !slices.ContainsFunc(cases, func(c poisonCase) bool { return c.topic == topic && c.kind == kind }) {
				t.Errorf("no %s message on %s", kind, topic)
			}
		}
	}
	pub := sys.Publisher(t)
	if err := pub.Publish(messages.TopicEvents, marshal(t, count(E[2], messages.Zeros, 8), nil)); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := pub.Publish(c.topic, c.msg); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}

	// Valid messages behind the poison, in the same partitions.
	if _, err := sender.Send(t.Context(), messages.File{UploadID: S[2], Name: "after.bin"}, bytes.NewReader(bytes.Repeat([]byte{0xFF}, 2500))); err != nil {
		t.Fatal(err)
	}
	if _, err := sender.Send(t.Context(), messages.File{UploadID: E[3], Name: "after.bin"}, bytes.NewReader(bytes.Repeat([]byte{0x0F}, 2500))); err != nil {
		t.Fatal(err)
	}
	if err := sender.Abort(t.Context(), A[2], "changed my mind"); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(messages.TopicDeleteFile, marshal(t, messages.DeleteFile{FileID: D[2], Service: messages.Zeros}, nil)); err != nil {
		t.Fatal(err)
	}

	waitPlaced(t, sys.System, S[2], []messages.Service{messages.Ones})
	waitPlaced(t, sys.System, E[3], both)
	for _, role := range both {
		testsystem.Eventually(t, 30*time.Second, func() string {
			var st api.Upload
			res := sys.Get(t, role, "/data/uploads/"+A[2])
			if res.Status == http.StatusOK {
				res.JSON(t, &st)
			}
			if st.State != "failed" || st.Failure == nil || st.Failure.Reason != messages.ReasonAborted {
				return fmt.Sprintf("%s: upload %s after the abort: %d %s", role, A[2], res.Status, res.Body)
			}
			return ""
		})
	}
	testsystem.Eventually(t, 30*time.Second, func() string {
		if res := sys.Get(t, messages.Zeros, "/data/"+D[2]); res.Status != http.StatusNotFound {
			return fmt.Sprintf("zeros still holds the deleted file: %d", res.Status)
		}
		return ""
	})

	// Every poison message is on the poison topic, once per service that
	// gave up on it, with its reason; nothing else is.
	type key struct {
		uuid    string
		service messages.Service
	}
	want := map[key]poisonCase{}
	for _, c := range cases {
		for _, s := range c.by {
			want[key{c.msg.UUID, s}] = c
		}
	}
	var poisoned []testsystem.Record
	deadline := time.Now().Add(60 * time.Second)
	for {
		poisoned = sys.ReadTopic(t, messages.TopicPoison)
		if len(poisoned) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	seen := map[key]bool{}
	for _, r := range poisoned {
		k := key{r.UUID(), messages.Service(r.Headers[messages.HeaderServicePoisoned])}
		c, ok := want[k]
		if !ok {
			t.Errorf("unexpected poison record %+v", r.Headers)
			continue
		}
		if seen[k] {
			t.Errorf("%s: poisoned twice by %s", c.name, k.service)
		}
		seen[k] = true
		h := r.Headers
		if !strings.Contains(h[messages.HeaderReasonPoisoned], c.reason) {
			t.Errorf("%s: reason_poisoned %q does not say %q", c.name, h[messages.HeaderReasonPoisoned], c.reason)
		}
		if h[messages.HeaderTopicPoisoned] != c.topic || h[messages.HeaderHandlerPoisoned] == "" {
			t.Errorf("%s: topic_poisoned %q handler_poisoned %q", c.name, h[messages.HeaderTopicPoisoned], h[messages.HeaderHandlerPoisoned])
		}
		if h[messages.HeaderAttemptsPoisoned] != c.attempts {
			t.Errorf("%s: poisoned by %s after %s attempts, want %s", c.name, k.service, h[messages.HeaderAttemptsPoisoned], c.attempts)
		}
		// The message itself is kept as it was: payload, key, headers.
		if !bytes.Equal(r.Value, c.msg.Payload) || r.Key != c.msg.Metadata.Get(messages.HeaderPartitionKey) ||
			h[messages.HeaderName] != c.msg.Metadata.Get(messages.HeaderName) {
			t.Errorf("%s: poisoned record changed: key %q name %q value %q", c.name, r.Key, h[messages.HeaderName], r.Value)
		}
	}
	for k, c := range want {
		if !seen[k] {
			t.Errorf("%s: not poisoned by %s", c.name, k.service)
		}
	}

	// The handler that always fails ran 1 + MaxRetries times per service,
	// backing off between tries, and not once more.
	for _, c := range cases {
		if c.calls == "" {
			continue
		}
		if got, want := sys.broken.Calls(c.calls), 4*len(c.by); got != want {
			t.Errorf("%s: the handler ran %d times over %v, want 4 each", c.name, got, c.by)
		}
		for _, s := range c.by {
			if got := retryWaits(t, sys.Logs.String(), s, c.msg.UUID); !slices.Equal(got, []string{"100ms", "200ms", "400ms"}) {
				t.Errorf("%s: %s retried after %v, want 100ms, 200ms, 400ms", c.name, s, got)
			}
		}
	}

	// Nothing crashed or got stuck: every consumer group caught up.
	sys.WaitSettled(t, 60*time.Second)
	sys.WaitReady(t)

	t.Run("the operating page's kcat command shows the poison topic", func(t *testing.T) {
		out := kcat(t, sys.Broker.Addrs()[0])
		for _, c := range cases {
			if !strings.Contains(out, "_watermill_message_uuid="+c.msg.UUID) || !strings.Contains(out, c.reason) {
				t.Errorf("kcat does not show %q (%s):\n%s", c.name, c.msg.UUID, out)
			}
		}
	})
}

// kcat runs the kcat command docs/operating.md gives for the poison topic
// against a broker, to the end of the topic, and returns what it printed.
func kcat(t *testing.T, broker string) string {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("kcat is not installed; .ci/run installs it")
		}
		t.Skip("kcat is not installed (apt-get install -y kcat)")
	}
	page, err := os.ReadFile("docs/operating.md")
	if err != nil {
		t.Fatal(err)
	}
	var command string
	for _, line := range strings.Split(string(page), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "kcat -C ") && strings.Contains(line, messages.TopicPoison) {
			command = line
			break
		}
	}
	if command == "" {
		t.Fatal("docs/operating.md shows no kcat command for the poison topic")
	}
	command = strings.Replace(command, "127.0.0.1:9092", broker, 1) + " -e"
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "-c", command).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	return string(out)
}

type brokenSystem struct {
	*testsystem.System
	broken *brokenUploads
}

// startWithBroken starts a system whose services share one brokenUploads.
func startWithBroken(t *testing.T) brokenSystem {
	broken := newBrokenUploads()
	sys := testsystem.Start(t, nil,
		testsystem.WithServiceOptions(messages.Zeros, service.WithUploads(broken.wrap)),
		testsystem.WithServiceOptions(messages.Ones, service.WithUploads(broken.wrap)))
	return brokenSystem{System: sys, broken: broken}
}

// waitPlaced waits until both services see the upload placed in want.
func waitPlaced(t *testing.T, sys *testsystem.System, id string, want []messages.Service) {
	t.Helper()
	for _, role := range messages.Services() {
		testsystem.Eventually(t, 30*time.Second, func() string {
			var st api.Upload
			res := sys.Get(t, role, "/data/uploads/"+id)
			if res.Status == http.StatusOK {
				res.JSON(t, &st)
			}
			if st.State != "placed" || !slices.Equal(st.StoredIn, want) {
				return fmt.Sprintf("%s: upload %s: %d %s", role, id, res.Status, res.Body)
			}
			return ""
		})
	}
}

// retryWaits returns the back-off of each retry a service logged for a message.
func retryWaits(t *testing.T, logs string, service messages.Service, uuid string) []string {
	t.Helper()
	var waits []string
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg     string  `json:"msg"`
			Service string  `json:"service"`
			UUID    string  `json:"message_uuid"`
			Attempt float64 `json:"attempt"`
			RetryIn string  `json:"retry_in"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "message failed; retrying" ||
			line.Service != string(service) || line.UUID != uuid {
			continue
		}
		if int(line.Attempt) != len(waits)+1 {
			t.Errorf("%s logged attempt %v after %d", service, line.Attempt, len(waits))
		}
		waits = append(waits, line.RetryIn)
	}
	return waits
}

// A database that is down is a passing failure: the message is retried,
// then delivered again and again, never poisoned, and goes through once the
// database is back.
func TestADatabaseOutageIsRetriedNotPoisoned(t *testing.T) {
	sys := testsystem.Start(t, nil)
	admin := sys.Conn(t, messages.Ones) // any connection to the server
	db := pgx.Identifier{sys.DBPrefix + "_" + string(messages.Zeros)}.Sanitize()
	allow := func(on bool) {
		if _, err := admin.Exec(context.Background(), fmt.Sprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %t", db, on)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	if _, err := admin.Exec(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
		sys.DBPrefix+"_"+string(messages.Zeros)); err != nil {
		t.Fatal(err)
	}

	// ones takes the upload; zeros cannot record it.
	correlation := "outage-" + watermill.NewShortUUID()
	body, contentType := testsystem.MultipartFile(t, "zeros.bin", make([]byte, 3000))
	req, _ := http.NewRequest(http.MethodPost, sys.URL[messages.Ones]+"/data/upload?wait=0", body)
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-Correlation-ID", correlation)
	res := testsystem.Do(t, req)
	if res.Status != http.StatusAccepted {
		t.Fatalf("upload: %d %s", res.Status, res.Body)
	}
	var accepted struct{ ID string }
	res.JSON(t, &accepted)

	// zeros's first try of a message fails more than once: the message was
	// delivered again after its retries were spent, not poisoned.
	testsystem.Eventually(t, 60*time.Second, func() string {
		firstTries := map[string]int{}
		sc := bufio.NewScanner(strings.NewReader(sys.Logs.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Msg, Service, Error string
				UUID                string  `json:"message_uuid"`
				Correlation         string  `json:"correlation_id"`
				Attempt             float64 `json:"attempt"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "message failed; retrying" && line.Service == "zeros" &&
				line.Correlation == correlation && line.Attempt == 1 && strings.Contains(line.Error, domain.ErrUnavailable.Error()) {
				firstTries[line.UUID]++
			}
		}
		for _, n := range firstTries {
			if n >= 2 {
				return ""
			}
		}
		return fmt.Sprintf("no message of the upload was delivered again yet: %v", firstTries)
	})
	if res := sys.Get(t, messages.Zeros, "/readyz"); res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "database") {
		t.Errorf("zeros is ready without its database: %d %s", res.Status, res.Body)
	}

	allow(true)
	waitPlaced(t, sys, accepted.ID, []messages.Service{messages.Zeros})
	for _, r := range sys.ReadTopic(t, messages.TopicPoison) {
		t.Errorf("poisoned during a database outage: %v", r.Headers)
	}
}

// A command another program produced as docs/send-with-kcat.sh does — a
// Kafka key, no partition_key header, no Watermill id — is poisoned with
// its own key (so a replay "with the same key" lands where it came from),
// and the poison line names the message by an id that finds it again.
func TestAPoisonedRecordKeepsItsKafkaKeyWhateverItsHeaders(t *testing.T) {
	sys := testsystem.Start(t, nil)
	config, err := sys.Kafka.PublisherConfig()
	if err != nil {
		t.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(sys.Kafka.Brokers, config)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	key := uuid.Must(uuid.NewV7()).String()
	partition, offset, err := producer.SendMessage(&sarama.ProducerMessage{Topic: messages.TopicDeleteFile,
		Key: sarama.StringEncoder(key), Value: sarama.StringEncoder("{not json"),
		Headers: []sarama.RecordHeader{{Key: []byte(messages.HeaderName), Value: []byte(messages.NameDeleteFile)}}})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%s/%d/%d", messages.TopicDeleteFile, partition, offset)
	var poisoned []testsystem.Record
	testsystem.Eventually(t, 30*time.Second, func() string {
		poisoned = sys.ReadTopic(t, messages.TopicPoison)
		if len(poisoned) < 2 {
			return fmt.Sprintf("%d poison records, want one per service", len(poisoned))
		}
		return ""
	})
	for _, r := range poisoned {
		if r.Key != key || r.UUID() != id || r.Headers[messages.HeaderServicePoisoned] == "" {
			t.Errorf("poison record key %q, id %q, headers %v; want the record's own key %q and id %q", r.Key, r.UUID(), r.Headers, key, id)
		}
		if want := sys.Partition(t, messages.TopicPoison, key); r.Partition != want {
			t.Errorf("poisoned into partition %d, the key's is %d", r.Partition, want)
		}
	}
	lines := 0
	for _, l := range logLines(t, sys.Logs.String(), `"message poisoned"`) {
		if l["message_uuid"] != id {
			t.Errorf("poison line names message %q, want %q: %s", l["message_uuid"], id, l["_line"])
		}
		lines++
	}
	if lines != 2 {
		t.Errorf("%d poison lines, want one per service", lines)
	}
}
