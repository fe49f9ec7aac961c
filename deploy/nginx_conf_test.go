package deploy_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
	"unicode"
)

// nginxDirective is one directive of an nginx configuration: its name, its
// arguments and, for a block (http, upstream, server, location), what is in
// it.
type nginxDirective struct {
	name  string
	args  []string
	block []nginxDirective
}

// parseNginxConf parses nginx's configuration syntax: directives end in ;
// or open a { block }, # starts a comment, arguments may be quoted.
func parseNginxConf(text string) ([]nginxDirective, error) {
	tokens, err := nginxTokens(text)
	if err != nil {
		return nil, err
	}
	dirs, _, err := nginxBlock(tokens, false)
	return dirs, err
}

func nginxTokens(text string) ([]string, error) {
	var tokens []string
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case unicode.IsSpace(rune(c)):
			i++
		case c == '#':
			for i < len(text) && text[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			tokens = append(tokens, string(c))
			i++
		case c == '"' || c == '\'':
			j := strings.IndexByte(text[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote at %d", i)
			}
			tokens = append(tokens, text[i+1:i+1+j])
			i += j + 2
		default:
			j := i
			for j < len(text) && !unicode.IsSpace(rune(text[j])) && !strings.ContainsRune(";{}#", rune(text[j])) {
				j++
			}
			tokens = append(tokens, text[i:j])
			i = j
		}
	}
	return tokens, nil
}

// nginxBlock reads directives up to the } that closes a nested block, or
// to the end of the file; rest starts after the }.
func nginxBlock(tokens []string, nested bool) (dirs []nginxDirective, rest []string, err error) {
	for len(tokens) > 0 {
		if tokens[0] == "}" {
			if !nested {
				return nil, nil, fmt.Errorf("unexpected }")
			}
			return dirs, tokens[1:], nil
		}
		d := nginxDirective{name: tokens[0]}
		tokens = tokens[1:]
		for len(tokens) > 0 && tokens[0] != ";" && tokens[0] != "{" && tokens[0] != "}" {
			d.args = append(d.args, tokens[0])
			tokens = tokens[1:]
		}
		switch {
		case len(tokens) == 0 || tokens[0] == "}":
			return nil, nil, fmt.Errorf("directive %s %v does not end in ;", d.name, d.args)
		case tokens[0] == "{":
			if d.block, tokens, err = nginxBlock(tokens[1:], true); err != nil {
				return nil, nil, err
			}
			if d.block == nil {
				d.block = []nginxDirective{}
			}
		default:
			tokens = tokens[1:]
		}
		dirs = append(dirs, d)
	}
	if nested {
		return nil, nil, fmt.Errorf("a block has no closing }")
	}
	return dirs, nil, nil
}

// all returns the directives called name in dirs (not in nested blocks).
func nginxAll(dirs []nginxDirective, name string) []nginxDirective {
	var out []nginxDirective
	for _, d := range dirs {
		if d.name == name {
			out = append(out, d)
		}
	}
	return out
}

// nginxValue is the one argument of directive name in dirs ("" if absent).
func nginxValue(t testing.TB, dirs []nginxDirective, name string) string {
	t.Helper()
	found := nginxAll(dirs, name)
	if len(found) == 0 {
		return ""
	}
	if len(found) > 1 || len(found[0].args) != 1 {
		t.Errorf("nginx: %s is set %d times, %v", name, len(found), found[0].args)
	}
	return found[0].args[0]
}

// nginxDuration parses an nginx time ("90", "30s", "5m", "1h").
func nginxDuration(t testing.TB, name, v string) time.Duration {
	t.Helper()
	if v != "" && strings.IndexFunc(v, unicode.IsLetter) < 0 {
		v += "s" // a bare number is seconds
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Errorf("nginx: %s %q is not a time: %v", name, v, err)
	}
	return d
}

func loadNginxConf(t testing.TB, path string) []nginxDirective {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dirs, err := parseNginxConf(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return dirs
}

func TestNginxConfParser(t *testing.T) {
	dirs, err := parseNginxConf("a 1;\nhttp { # c\n upstream u { server x:1 resolve; }\n server { listen 80; location / { proxy_pass \"http://u\"; } } }\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != 2 || dirs[0].name != "a" || dirs[1].name != "http" {
		t.Fatalf("%+v", dirs)
	}
	up := nginxAll(dirs[1].block, "upstream")
	if len(up) != 1 || up[0].args[0] != "u" || fmt.Sprint(up[0].block[0].args) != "[x:1 resolve]" {
		t.Errorf("upstream %+v", up)
	}
	loc := nginxAll(nginxAll(dirs[1].block, "server")[0].block, "location")
	if len(loc) != 1 || loc[0].block[0].args[0] != "http://u" {
		t.Errorf("location %+v", loc)
	}
	for _, bad := range []string{"a 1", "http { a; ", "a \"b;", "a; }"} {
		if _, err := parseNginxConf(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if d := nginxDuration(t, "x", "15m"); d != 15*time.Minute {
		t.Errorf("15m = %s", d)
	}
	if d := nginxDuration(t, "x", "90"); d != 90*time.Second {
		t.Errorf("90 = %s", d)
	}
}
