package http_test

import (
	"fmt"
	"strings"
	"testing"

	httpport "github.com/baum-store/baum/handlers/http"
)

func TestParseTokens(t *testing.T) {
	a, b, c := strings.Repeat("a", 16), "b-._~+/0123456789AZ==", strings.Repeat("c", 64)
	tokens, err := httpport.ParseTokens("# the CI's\nci:write:" + a + ",\tread:" + b + "\r\n\n  viewer.2:read:" + c + "  ")
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(tokens)
	if want := "[ci (write) token-2 (read) viewer.2 (read)]"; got != want {
		t.Errorf("parsed %s, want %s", got, want)
	}
	if strings.Contains(fmt.Sprintf("%+v %#v", tokens, tokens), a) {
		t.Error("a printed token shows its secret")
	}
	for spec, says := range map[string]string{
		"write:" + a[:15]:                  "token token-1: a token is at least 16",
		"admin:" + a:                       "token token-1: the scope must be read or write",
		"read:" + a + "é":                  "token token-1: a token is at least 16",
		"read:" + a + "=x":                 "token token-1: a token is at least 16",
		"a:b:c:" + a:                       "token 1: not scope:token",
		"bad name!:read:" + a:              "not scope:token", // the space splits it
		"n@me:read:" + a:                   "token 1: the name must be",
		"read:" + a + ",write:" + a:        "token token-2: the same token is listed twice",
		"read:" + a + " read:x write:" + c: "token token-2: a token is at least 16",
	} {
		_, err := httpport.ParseTokens(spec)
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("%q: %v, want it to say %q", spec, err, says)
		}
		if err != nil && strings.Contains(err.Error(), a[:15]) {
			t.Errorf("%q: the error shows the token: %v", spec, err)
		}
	}
	if tokens, err := httpport.ParseTokens(" \n# nothing\n"); err != nil || len(tokens) != 0 {
		t.Errorf("an empty spec: %v %v", tokens, err)
	}
}
