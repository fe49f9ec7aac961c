package http

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// Scope is what an API token may do.
type Scope string

const (
	// ScopeRead lists files, reads their metadata and bytes and follows uploads.
	ScopeRead Scope = "read"
	// ScopeWrite may also upload and delete.
	ScopeWrite Scope = "write"
)

// allows reports whether a token of scope s may do what needs scope need.
func (s Scope) allows(need Scope) bool { return s == ScopeWrite || s == need }

// minTokenLength is the shortest token accepted: a token is a password
// that never needs typing, so there is no reason for a short one.
const minTokenLength = 16

// Token is an API token as a service keeps it: its name, its scope and the
// SHA-256 of the token. The token itself is not kept.
type Token struct {
	Name  string
	Scope Scope
	sum   [sha256.Size]byte
}

// String names the token without showing it.
func (t Token) String() string { return t.Name + " (" + string(t.Scope) + ")" }

// ParseTokens reads API tokens: entries `scope:token` or `name:scope:token`,
// separated by commas, spaces or new lines; a line starting with # is a
// comment. A token is at least 16 characters of A-Z a-z 0-9 - . _ ~ + /,
// optionally followed by = signs (RFC 6750's b64token), e.g. the output of
// `openssl rand -hex 32`. Errors name the entry by its position and name,
// never its token.
func ParseTokens(spec string) ([]Token, error) {
	var tokens []Token
	var errs []error
	seen := map[[sha256.Size]byte]bool{}
	n := 0
	for _, line := range strings.Split(spec, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, entry := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			n++
			t, err := parseToken(n, entry)
			if err == nil && seen[t.sum] {
				err = fmt.Errorf("token %s: the same token is listed twice", t.Name)
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			seen[t.sum] = true
			tokens = append(tokens, t)
		}
	}
	return tokens, errors.Join(errs...)
}

func parseToken(n int, entry string) (Token, error) {
	parts := strings.Split(entry, ":")
	t := Token{Name: fmt.Sprintf("token-%d", n)}
	switch len(parts) {
	case 2:
	case 3:
		t.Name, parts = parts[0], parts[1:]
		if !validName(t.Name) {
			return t, fmt.Errorf("token %d: the name must be 1 to 64 letters, digits, '-', '_' or '.'", n)
		}
	default:
		return t, fmt.Errorf("token %d: not scope:token or name:scope:token", n)
	}
	t.Scope = Scope(parts[0])
	if t.Scope != ScopeRead && t.Scope != ScopeWrite {
		return t, fmt.Errorf("token %s: the scope must be read or write", t.Name)
	}
	if len(parts[1]) < minTokenLength || !validToken(parts[1]) {
		return t, fmt.Errorf("token %s: a token is at least %d characters of A-Z a-z 0-9 - . _ ~ + / (then = signs if any)", t.Name, minTokenLength)
	}
	t.sum = sha256.Sum256([]byte(parts[1]))
	return t, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// validToken reports whether s is a b64token: 1*( ALPHA / DIGIT / "-" / "." /
// "_" / "~" / "+" / "/" ) *"=".
func validToken(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for _, c := range []byte(body) {
		if !isAlnum(c) && !strings.ContainsRune("-._~+/", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Authenticator checks the bearer tokens of requests. Its tokens can be
// replaced while it serves (a token file that changed).
type Authenticator struct {
	tokens atomic.Pointer[[]Token]
}

// NewAuthenticator returns an Authenticator that accepts these tokens (none:
// it refuses every request).
func NewAuthenticator(tokens []Token) *Authenticator {
	a := &Authenticator{}
	a.Replace(tokens)
	return a
}

// Replace makes the Authenticator accept exactly these tokens from now on.
func (a *Authenticator) Replace(tokens []Token) {
	tokens = append([]Token(nil), tokens...)
	a.tokens.Store(&tokens)
}

// Tokens returns the tokens accepted now (names and scopes; no secrets).
func (a *Authenticator) Tokens() []Token { return append([]Token(nil), *a.tokens.Load()...) }

var (
	errNoToken      = errors.New("this endpoint needs a bearer token: send the header Authorization: Bearer <token>")
	errNotBearer    = errors.New("the Authorization header is not a bearer token: send Authorization: Bearer <token>")
	errInvalidToken = errors.New("the bearer token is not valid (wrong, or revoked)")
)

// authenticate finds the token a request's Authorization headers carry.
// The time it takes does not depend on which token matches, or on how much
// of a wrong token is right: the presented token is hashed, and its hash is
// compared in constant time with every known hash.
func (a *Authenticator) authenticate(headers []string) (Token, error) {
	if len(headers) == 0 {
		return Token{}, errNoToken
	}
	if len(headers) > 1 {
		return Token{}, errNotBearer
	}
	presented, ok := bearer(headers[0])
	if !ok {
		return Token{}, errNotBearer
	}
	sum := sha256.Sum256([]byte(presented))
	tokens := *a.tokens.Load()
	match := -1
	for i := range tokens {
		match = subtle.ConstantTimeSelect(subtle.ConstantTimeCompare(sum[:], tokens[i].sum[:]), i, match)
	}
	if match < 0 {
		return Token{}, errInvalidToken
	}
	return tokens[match], nil
}

// bearer returns the token of an Authorization value `Bearer <token>`: the
// scheme in any case, then one or more spaces or tabs, then the token;
// spaces and tabs around the whole value are ignored.
func bearer(value string) (string, bool) {
	value = strings.Trim(value, " \t")
	const scheme = "bearer"
	if len(value) <= len(scheme) || !strings.EqualFold(value[:len(scheme)], scheme) {
		return "", false
	}
	rest := value[len(scheme):]
	token := strings.TrimLeft(rest, " \t")
	if len(token) == len(rest) || token == "" {
		return "", false
	}
	return token, true
}

// authRealm names the protection space in WWW-Authenticate.
const authRealm = "baum"

// require lets a request through only with a token that allows scope (or
// when the service has no tokens: authentication is off).
func (s *Server) require(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if s.deps.Auth == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := s.deps.Auth.authenticate(r.Header.Values("Authorization"))
			switch {
			case errors.Is(err, errInvalidToken):
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q, error="invalid_token"`, authRealm))
				writeError(w, r, http.StatusUnauthorized, err.Error())
			case err != nil:
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q`, authRealm))
				writeError(w, r, http.StatusUnauthorized, err.Error())
			case !token.Scope.allows(scope):
				w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q, error="insufficient_scope", scope=%q`, authRealm, scope))
				writeError(w, r, http.StatusForbidden, fmt.Sprintf("token %s may only %s; this needs a %s token", token.Name, token.Scope, scope))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}
