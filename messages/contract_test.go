package messages_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/baum-store/baum/messages"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and docs/messages.md from the code")

// The contract's examples: one per message (two for StoreChunk, whose last
// chunk carries more headers). Each has a golden file holding its wire form:
// what another program, in any language, reads and writes on Kafka.
var (
	exampleID   = "01a21aec-2e12-7f30-a7b5-9c4a2553c6a1"
	exampleData = []byte("BAUMBAUM") // 40 zero bits, 24 one bits
	exampleSum  = hexSHA256(exampleData)
	exampleAt   = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
)

type example struct {
	golden string // file name in testdata, without .golden
	msg    messages.Message
}

func examples() []example {
	return []example{
		{"baum.StoreChunk.v1.first", messages.StoreChunk{UploadID: exampleID, Index: 0, Offset: 0, Data: exampleData[:4],
			Name: "photo.jpg", ContentType: "image/jpeg", Origin: "my-app"}},
		{"baum.StoreChunk.v1.last", messages.StoreChunk{UploadID: exampleID, Index: 1, Offset: 4, Data: exampleData[4:],
			Last: true, Size: 8, SHA256: exampleSum, Name: "photo.jpg", ContentType: "image/jpeg", Origin: "my-app"}},
		{"baum.AbortUpload.v1", messages.AbortUpload{UploadID: exampleID, Reason: "the user cancelled"}},
		{"baum.DeleteFile.v1", messages.DeleteFile{FileID: exampleID, Service: messages.Zeros}},
		{"baum.BitsCounted.v1", messages.BitsCounted{UploadID: exampleID, Service: messages.Zeros, Bit: "zero", Count: 40,
			Size: 8, SHA256: exampleSum, At: exampleAt}},
		{"baum.FileStored.v1", messages.FileStored{FileID: exampleID, Service: messages.Zeros, Name: "photo.jpg",
			ContentType: "image/jpeg", Size: 8, SHA256: exampleSum, ZeroBits: 40, OneBits: 24, At: exampleAt}},
		{"baum.UploadFailed.v1", messages.UploadFailed{UploadID: exampleID, Service: messages.Ones,
			Reason: messages.ReasonChecksumMismatch, Detail: "the staged bytes do not hash to file_sha256", At: exampleAt}},
		{"baum.FileDeleted.v1", messages.FileDeleted{FileID: exampleID, Service: messages.Zeros, Size: 8, At: exampleAt}},
	}
}

func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// wire is a message as it travels: one Kafka record.
type wire struct {
	Name    string            `json:"name"`
	Topic   string            `json:"topic"`
	Key     string            `json:"key"`
	Headers map[string]string `json:"headers"`
	// Value is the JSON document of a JSON message.
	Value json.RawMessage `json:"value,omitempty"`
	// ValueBase64 is the raw value of a StoreChunk.
	ValueBase64 *string `json:"value_base64,omitempty"`
}

func toWire(t *testing.T, m messages.Message) wire {
	t.Helper()
	msg, err := messages.Marshaler{}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := messages.PartitionKey("", msg)
	w := wire{Name: m.MessageName(), Topic: messages.TopicFor(m.MessageName()), Key: key, Headers: map[string]string(msg.Metadata)}
	if _, ok := m.(messages.StoreChunk); ok {
		v := base64.StdEncoding.EncodeToString(msg.Payload)
		w.ValueBase64 = &v
	} else {
		var indented bytes.Buffer
		if err := json.Indent(&indented, msg.Payload, "  ", "  "); err != nil {
			t.Fatal(err)
		}
		w.Value = indented.Bytes()
	}
	return w
}

func encodeWire(t *testing.T, w wire) []byte {
	t.Helper()
	out, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func readGolden(t *testing.T, name string) (wire, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name+".golden"))
	if err != nil {
		t.Fatalf("%v (run go test ./messages -update to write it)", err)
	}
	var w wire
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatalf("%s.golden: %v", name, err)
	}
	return w, raw
}

// A change to a message's name, topic, key, headers or JSON field names
// breaks every program that reads or writes it. The golden files pin all of
// that; a deliberate change of the contract is a new version (v2) and new
// golden files, never an edit of these.
func TestWireFormatMatchesTheGoldenFiles(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.golden, func(t *testing.T) {
			got := toWire(t, ex.msg)
			if *update {
				if err := os.WriteFile(filepath.Join("testdata", ex.golden+".golden"), encodeWire(t, got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, _ := readGolden(t, ex.golden)
			if got.Name != want.Name || got.Topic != want.Topic || got.Key != want.Key {
				t.Errorf("name/topic/key %s %s %s, golden says %s %s %s", got.Name, got.Topic, got.Key, want.Name, want.Topic, want.Key)
			}
			if !reflect.DeepEqual(got.Headers, want.Headers) {
				t.Errorf("headers\n got %v\nwant %v", got.Headers, want.Headers)
			}
			if !reflect.DeepEqual(got.ValueBase64, want.ValueBase64) {
				t.Errorf("raw value differs from the golden file")
			}
			// JSON: the same fields with the same values; the order of
			// fields is no part of the contract.
			var gotValue, wantValue any
			json.Unmarshal(got.Value, &gotValue)
			json.Unmarshal(want.Value, &wantValue)
			if !reflect.DeepEqual(gotValue, wantValue) {
				t.Errorf("JSON value\n got %s\nwant %s", got.Value, want.Value)
			}
		})
	}
}

// What other programs wrote by the golden files' rules must still be read:
// each golden record decodes into its example message.
func TestGoldenFilesDecode(t *testing.T) {
	for _, ex := range examples() {
		t.Run(ex.golden, func(t *testing.T) {
			w, _ := readGolden(t, ex.golden)
			var payload []byte
			if w.ValueBase64 != nil {
				var err error
				if payload, err = base64.StdEncoding.DecodeString(*w.ValueBase64); err != nil {
					t.Fatal(err)
				}
			} else {
				payload = w.Value
			}
			msg := message.NewMessage("golden", payload)
			for k, v := range w.Headers {
				msg.Metadata.Set(k, v)
			}
			into := reflect.New(reflect.TypeOf(ex.msg))
			if err := (messages.Marshaler{}).Unmarshal(msg, into.Interface()); err != nil {
				t.Fatal(err)
			}
			if got := into.Elem().Interface(); !reflect.DeepEqual(got, ex.msg) {
				t.Errorf("decoded %+v\n   want %+v", got, ex.msg)
			}
			if w.Topic != messages.TopicFor(w.Name) || w.Key != ex.msg.PartitionKey() {
				t.Errorf("golden topic %s / key %s disagree with the code", w.Topic, w.Key)
			}
		})
	}
}

// Every message the package names has a golden file, and every golden file
// belongs to a message: a new message cannot slip into the contract untested.
func TestEveryMessageHasAGoldenFile(t *testing.T) {
	src := parseSource(t)
	covered := map[string]bool{}
	for _, ex := range examples() {
		covered[ex.msg.MessageName()] = true
	}
	for _, c := range src.consts("Name") {
		if !covered[c.value] {
			t.Errorf("%s (%s) has no example and golden file in contract_test.go", c.name, c.value)
		}
	}
	files, _ := filepath.Glob("testdata/*.golden")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden")
		if !slices.ContainsFunc(examples(), func(ex example) bool { return ex.golden == name }) {
			t.Errorf("%s belongs to no example", f)
		}
	}
}

// StoreChunk's header tags are what the Marshaler writes: the doc, generated
// from the tags, cannot name a header the code does not use.
func TestStoreChunkHeaderTagsAreTheHeaders(t *testing.T) {
	var last messages.StoreChunk
	for _, ex := range examples() {
		if c, ok := ex.msg.(messages.StoreChunk); ok && c.Last {
			last = c
		}
	}
	w := toWire(t, last)
	rt, rv := reflect.TypeOf(last), reflect.ValueOf(last)
	seen := map[string]bool{messages.HeaderName: true, messages.HeaderPartitionKey: true}
	for i := range rt.NumField() {
		tag := rt.Field(i).Tag.Get("header")
		if tag == "" {
			t.Errorf("field %s has no header tag", rt.Field(i).Name)
			continue
		}
		if tag == "-" {
			continue
		}
		seen[tag] = true
		if got, want := w.Headers[tag], fmt.Sprint(rv.Field(i).Interface()); got != want {
			t.Errorf("field %s: header %s = %q, want %q", rt.Field(i).Name, tag, got, want)
		}
	}
	for h := range w.Headers {
		if !seen[h] {
			t.Errorf("header %s is written but no field's tag names it", h)
		}
	}
}

// docs/messages.md is generated from this package's code (types, fields,
// tags and comments, constants) and the golden files; it must match.
func TestContractDocIsTrue(t *testing.T) {
	got := contractDoc(t)
	path := filepath.Join("..", "docs", "messages.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("docs/messages.md differs from the code; regenerate it: go test ./messages -run 'TestContractDoc' -update")
	}
}

// source is the package's parsed code.
type source struct {
	fset *token.FileSet
	pkg  *doc.Package
}

type constant struct {
	name, value, comment string
}

func parseSource(t *testing.T) source {
	t.Helper()
	fset := token.NewFileSet()
	names, _ := filepath.Glob("*.go")
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/baum-store/baum/messages", doc.PreserveAST)
	if err != nil {
		t.Fatal(err)
	}
	return source{fset: fset, pkg: pkg}
}

// consts returns the package-level string and integer constants whose
// names start with prefix, in source order, with their comments.
func (s source) consts(prefix string) []constant {
	var out []constant
	for _, group := range s.pkg.Consts {
		for _, spec := range group.Decl.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, prefix) || !n.IsExported() || i >= len(vs.Values) {
					continue
				}
				value := types.ExprString(vs.Values[i])
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					value, _ = strconv.Unquote(lit.Value)
				}
				comment := strings.TrimSpace(vs.Comment.Text() + " " + vs.Doc.Text())
				out = append(out, constant{name: n.Name, value: value, comment: oneLine(comment)})
			}
		}
	}
	return out
}

func (s source) typ(t *testing.T, name string) *doc.Type {
	t.Helper()
	for _, typ := range s.pkg.Types {
		if typ.Name == name {
			return typ
		}
	}
	t.Fatalf("no type %s in package messages", name)
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// sentence capitalises s, for a table cell cut from a doc comment.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// field is one row of a message's field table.
type field struct {
	wireName, goName, wireType, meaning string
}

func (s source) fields(t *testing.T, typ *doc.Type, chunk bool) []field {
	t.Helper()
	st := typ.Decl.Specs[0].(*ast.TypeSpec).Type.(*ast.StructType)
	var out []field
	for _, f := range st.Fields.List {
		tag := reflect.StructTag("")
		if f.Tag != nil {
			raw, _ := strconv.Unquote(f.Tag.Value)
			tag = reflect.StructTag(raw)
		}
		goType := types.ExprString(f.Type)
		meaning := oneLine(f.Comment.Text() + " " + f.Doc.Text())
		if meaning == "" {
			t.Errorf("%s.%s has no comment: every field of the contract is documented", typ.Name, f.Names[0].Name)
		}
		var name, wireType string
		if chunk {
			name = tag.Get("header")
			wireType = map[string]string{"string": "text", "int": "decimal integer", "int64": "decimal integer",
				"bool": "`true` or `false`", "[]byte": "bytes"}[goType]
		} else {
			name, _, _ = strings.Cut(tag.Get("json"), ",")
			wireType = map[string]string{"string": "string", "int64": "integer", "uint64": "integer",
				"Service": "string: `zeros` or `ones`", "time.Time": "string (RFC 3339 time)"}[goType]
		}
		if name == "" || wireType == "" {
			t.Errorf("%s.%s (%s) has no wire name or no known wire type", typ.Name, f.Names[0].Name, goType)
		}
		out = append(out, field{wireName: name, goName: f.Names[0].Name, wireType: wireType, meaning: meaning})
	}
	return out
}

func contractDoc(t *testing.T) []byte {
	src := parseSource(t)
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	md := func(text string) string { return strings.TrimSpace(string(src.pkg.Markdown(text))) }

	p("# BAUM's message contract\n\n")
	p("<!-- Generated from the code of package messages and its golden files by\n")
	p("     `go test ./messages -run TestContractDoc -update`. Do not edit: a test fails\n")
	p("     when this page and the code disagree. -->\n\n")
	p(`Other programs store and delete files in BAUM by putting commands on Kafka,
and learn what became of them from the events the services publish. This page
is every message: its topic, its key, its headers and fields, with an example
of each as it travels. Go programs need not write messages by hand: package
[messages](../messages) has the types and a client, [messages/kafkaclient](../messages/kafkaclient)
the Kafka settings (see [sending.md](sending.md#from-a-go-program)). Any other language can speak it too —
[send-with-kcat.sh](send-with-kcat.sh) sends a file with nothing but kcat.

## Kafka records

Every message is one Kafka record:

- **key**: the id of the upload the message is about (a file's id is its
  upload's id), so that one upload's messages stay in order in one partition.
  The chunks of one upload must all go to one partition: produce them with
  one key-hashing partitioner (any Kafka client's default does).
- **value**: a JSON document (UTF-8) — except for StoreChunk, whose value is
  the chunk's raw bytes, with its fields in headers.
- **headers** (UTF-8 strings):

| Header | On | Meaning |
|---|---|---|
| ` + "`name`" + ` | every message | The versioned message name, e.g. ` + "`baum.StoreChunk.v1`" + `. A consumer poisons a name it does not know. |
| ` + "`partition_key`" + ` | every message | The record key again (Watermill's copy of it). Optional for other producers: a consumer takes the record key itself, whatever this header says, and a poisoned message keeps that key. |
| ` + "`correlation_id`" + ` | optional | Follows one upload through every message and every log line of both services. Go clients use the upload id. |
| ` + "`_watermill_message_uuid`" + ` | optional | Watermill's message id, set by watermill-kafka. A message without one is known (in the logs, on the poison topic) by ` + "`<topic>/<partition>/<offset>`" + `. |

`)

	p("## Topics\n\n| Topic | Meaning |\n|---|---|\n")
	for _, c := range src.consts("Topic") {
		p("| `%s` | %s |\n", c.value, sentence(strings.TrimPrefix(c.comment, c.name+" ")))
	}

	p(`
## Versions and compatibility

- A message's name ends in its version (` + "`.v1`" + `). Within a version, names, topics,
  keys, headers and JSON field names never change and no field is removed
  or changes type; the golden files in [messages/testdata](../messages/testdata)
  pin each message's wire form, and a test fails if the code drifts from them.
- A version may gain fields (JSON fields, headers). Readers ignore what they
  do not know; a Go program built against an older ` + "`messages`" + ` does.
- A change an existing reader could misread is a new message version (` + "`.v2`" + `),
  sent alongside the old one until every reader knows it.
- Text is UTF-8 without NUL characters. Ids are lowercase UUIDs (36
  characters); the services issue version 7 UUIDs, any version is accepted.
`)

	var commands, events []example
	seen := map[string]bool{}
	for _, ex := range examples() {
		name := ex.msg.MessageName()
		if seen[name] {
			continue
		}
		seen[name] = true
		if messages.TopicFor(name) == messages.TopicEvents {
			events = append(events, ex)
		} else {
			commands = append(commands, ex)
		}
	}
	section := func(title, intro string, list []example) {
		p("\n## %s\n\n%s\n", title, intro)
		for _, ex := range list {
			name := ex.msg.MessageName()
			typeName := reflect.TypeOf(ex.msg).Name()
			typ := src.typ(t, typeName)
			_, chunk := ex.msg.(messages.StoreChunk)
			p("\n### `%s`\n\n", name)
			p("%s\n\n", md(typ.Doc))
			rows := src.fields(t, typ, chunk)
			key := ""
			for _, r := range rows {
				if reflect.ValueOf(ex.msg).FieldByName(r.goName).Interface() == ex.msg.PartitionKey() {
					key = r.wireName
				}
			}
			if key == "" {
				t.Errorf("%s: no field holds the partition key", name)
			}
			p("- Go type: `messages.%s`\n", typeName)
			p("- Topic: `%s`\n", messages.TopicFor(name))
			p("- Key: the `%s`\n", key)
			if chunk {
				p("- Value: the chunk's raw bytes (at most %d; %d by default)\n\n", messages.MaxChunkSize, messages.DefaultChunkSize)
				p("| Header | Type | Go field | Meaning |\n|---|---|---|---|\n")
			} else {
				p("- Value: JSON\n\n")
				p("| JSON field | Type | Go field | Meaning |\n|---|---|---|---|\n")
			}
			for _, r := range rows {
				if r.wireName == "-" {
					continue
				}
				p("| `%s` | %s | `%s` | %s |\n", r.wireName, r.wireType, r.goName, r.meaning)
			}
			for _, other := range examples() {
				if other.msg.MessageName() != name {
					continue
				}
				_, raw := readGolden(t, other.golden)
				p("\nExample ([%s.golden](../messages/testdata/%s.golden)):\n\n```json\n%s```\n", other.golden, other.golden, raw)
			}
		}
	}
	section("Commands", "Sent by clients (and by the service that received an HTTP upload); every service consumes them, each in its own consumer group.", commands)
	section("Events", "Published by the services on one topic, so that a reader sees an upload's events in the order they happened.", events)

	p("\n## Failure reasons\n\nThe `reason` of UploadFailed. New reasons may be added; treat an unknown one as a failure.\n\n| Reason | Meaning |\n|---|---|\n")
	for _, c := range src.consts("Reason") {
		p("| `%s` | %s |\n", c.value, c.comment)
	}

	p("\n## Limits\n\n| Limit | Value | Meaning |\n|---|---|---|\n")
	values := map[string]int{"DefaultChunkSize": messages.DefaultChunkSize, "MaxChunkSize": messages.MaxChunkSize,
		"MaxNameBytes": messages.MaxNameBytes, "MaxContentTypeBytes": messages.MaxContentTypeBytes}
	for _, c := range append(src.consts("DefaultChunk"), src.consts("Max")...) {
		v, ok := values[c.name]
		if !ok {
			t.Errorf("limit %s is not in the doc's table of values", c.name)
		}
		p("| `%s` | %d | %s |\n", c.name, v, sentence(strings.TrimPrefix(c.comment, c.name+" is ")))
	}

	p(`
## How an upload ends

A program that follows ` + "`baum.events`" + ` knows an upload's fate from the upload's
events alone, in the order its partition delivers them — the services decide
from the same events in the same order:

1. Each service publishes BitsCounted once it has staged and verified the
   whole file. With both counts known, the placement is decided: ` + "`zeros`" + ` keeps
   the file if zero bits ≥ one bits, ` + "`ones`" + ` if one bits ≥ zero bits (a tie,
   an empty file too, goes to both). Go: ` + "`messages.Keepers`" + `.
2. Each keeper publishes FileStored once the file is committed. The upload is
   placed when every keeper has.
3. An UploadFailed that comes before the placement is decided fails the
   upload; one that comes after changes nothing (the keepers finish storing).

To see an upload's events, start reading ` + "`baum.events`" + ` at the newest offsets
before sending the first chunk (` + "`kafkaclient.NewEventSubscriber`" + ` does); a file
sent while nobody watched can be looked up with ` + "`GET /data/uploads/{id}`" + `.

## Sending a file without Go

[send-with-kcat.sh](send-with-kcat.sh) sends a file with kcat alone; a test runs it
against the services:

` + "```sh\n")
	script, err := os.ReadFile(filepath.Join("..", "docs", "send-with-kcat.sh"))
	if err != nil {
		t.Fatal(err)
	}
	b.Write(script)
	p("```\n")
	return b.Bytes()
}
