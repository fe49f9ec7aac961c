package http_test

import (
	"mime"
	"strings"
	"testing"
	"unicode"

	httpport "github.com/baum-store/baum/handlers/http"
)

func TestContentDispositionIsSafeForAnyName(t *testing.T) {
	const id = "01a21aea-4ff3-7d6b-b2d5-327b2aa459f7"
	cases := []struct {
		name      string
		ascii     string // filename=
		full      string // what a client decodes (filename* if present)
		extended  bool   // filename* present
		wantWhole string // "" means full
	}{
		{name: "report.pdf", ascii: "report.pdf", full: "report.pdf"},
		{name: "Grüße, 世界.txt", ascii: "Gr__e, __.txt", full: "Grüße, 世界.txt", extended: true},
		{name: "../x", ascii: ".._x", full: ".._x"},
		{name: `..\..\windows\evil.exe`, ascii: ".._.._windows_evil.exe", full: ".._.._windows_evil.exe"},
		{name: "/etc/passwd", ascii: "_etc_passwd", full: "_etc_passwd"},
		{name: `say "hi".txt`, ascii: "say _hi_.txt", full: `say "hi".txt`, extended: true},
		{name: `back\slash`, ascii: "back_slash", full: "back_slash"},
		{name: "100%41.txt", ascii: "100_41.txt", full: "100%41.txt", extended: true},
		{name: "a\r\nSet-Cookie: x=1.txt", ascii: "aSet-Cookie: x=1.txt", full: "aSet-Cookie: x=1.txt"},
		{name: "nul\x00byte.bin", ascii: "nulbyte.bin", full: "nulbyte.bin"},
		{name: "tab\there", ascii: "tabhere", full: "tabhere"},
		{name: "\u202Etxt.exe", ascii: "txt.exe", full: "txt.exe"},
		{name: "semi;colon=x.txt", ascii: "semi;colon=x.txt", full: "semi;colon=x.txt"},
		{name: "..", ascii: id, full: id},
		{name: ".", ascii: id, full: id},
		{name: "   ", ascii: id, full: id},
		{name: "", ascii: id, full: id},
		{name: "bad\xffutf8", ascii: "bad_utf8", full: "bad\uFFFDutf8", extended: true},
		{name: "emoji 🙂.png", ascii: "emoji _.png", full: "emoji 🙂.png", extended: true},
	}
	for _, c := range cases {
		for _, disposition := range []string{"attachment", "inline"} {
			v := httpport.ContentDisposition(disposition, c.name, id)
			if strings.ContainsFunc(v, func(r rune) bool { return r > unicode.MaxASCII || r < 0x20 || r == 0x7f }) {
				t.Errorf("%q: header %q is not printable ASCII", c.name, v)
			}
			typ, params, err := mime.ParseMediaType(v)
			if err != nil {
				t.Errorf("%q: header %q does not parse: %v", c.name, v, err)
				continue
			}
			if typ != disposition {
				t.Errorf("%q: disposition %q", c.name, typ)
			}
			if !strings.Contains(v, `filename="`+c.ascii+`"`) {
				t.Errorf("%q: header %q lacks filename=%q", c.name, v, c.ascii)
			}
			if has := strings.Contains(v, "filename*=UTF-8''"); has != c.extended {
				t.Errorf("%q: header %q: filename* present %v, want %v", c.name, v, has, c.extended)
			}
			// Go's parser prefers filename* like browsers do.
			if params["filename"] != c.full {
				t.Errorf("%q: a client reads the name %q, want %q (header %q)", c.name, params["filename"], c.full, v)
			}
			if strings.ContainsAny(params["filename"], "/\\\x00\r\n") {
				t.Errorf("%q: name %q still has a separator or control character", c.name, params["filename"])
			}
		}
	}
}
