package deploy_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// Every relative link in the README and the pages under docs/ points to a
// file or folder that exists, and a link to a #heading of a markdown page to
// a heading that page has, so moving text between pages cannot leave a dead
// link behind.
func TestDocsLinksResolve(t *testing.T) {
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{"README.md"}, pages...)
	anchors := map[string]map[string]bool{} // page → its heading slugs
	anchorsOf := func(page string) (map[string]bool, error) {
		if a, ok := anchors[page]; ok {
			return a, nil
		}
		text, err := os.ReadFile(page)
		if err != nil {
			return nil, err
		}
		anchors[page] = headingSlugs(string(text))
		return anchors[page], nil
	}
	checked := 0
	for _, page := range pages {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range markdownLinks(string(text)) {
			if u, err := url.Parse(l.target); err != nil {
				t.Errorf("%s:%d: link %q does not parse: %v", page, l.line, l.target, err)
				continue
			} else if u.Scheme != "" || strings.HasPrefix(l.target, "//") {
				continue // a web address: not this test's business
			}
			checked++
			path, anchor, _ := strings.Cut(l.target, "#")
			target := page
			if path != "" {
				p, err := url.PathUnescape(path)
				if err != nil {
					t.Errorf("%s:%d: link %q: %v", page, l.line, l.target, err)
					continue
				}
				target = filepath.Join(filepath.Dir(page), filepath.FromSlash(p))
				if _, err := os.Stat(target); err != nil {
					t.Errorf("%s:%d: link %q: no such file %s", page, l.line, l.target, target)
					continue
				}
			}
			if anchor == "" || !strings.HasSuffix(target, ".md") {
				continue
			}
			a, err := anchorsOf(target)
			if err != nil {
				t.Errorf("%s:%d: link %q: %v", page, l.line, l.target, err)
			} else if !a[anchor] {
				t.Errorf("%s:%d: link %q: %s has no heading #%s", page, l.line, l.target, target, anchor)
			}
		}
	}
	if checked == 0 {
		t.Error("found no relative links at all; is the link pattern broken?")
	}
}

// The slugs are GitHub's, so the anchors the test accepts are those a reader
// can follow.
func TestHeadingSlugsAreGitHubs(t *testing.T) {
	text := "# BAUM\n\n## Interactive docs — `GET /docs`, `GET /openapi.json`\n\n" +
		"```sh\n# not a heading\n```\n\n## An upload's state — `GET /data/uploads/{id}`\n\n" +
		"### Health\n\n### Health\n\n## [Linked](x.md) *heading* 2.0\n"
	got := headingSlugs(text)
	for _, want := range []string{"baum", "interactive-docs--get-docs-get-openapijson",
		"an-uploads-state--get-datauploadsid", "health", "health-1", "linked-heading-20"} {
		if !got[want] {
			t.Errorf("no slug %q in %v", want, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block became a heading")
	}
	links := markdownLinks("[a](one.md) `[b](two.md)` ![c](three.png \"t\")\n```\n[d](four.md)\n```\n[e]: five.md\n")
	var targets []string
	for _, l := range links {
		targets = append(targets, l.target)
	}
	if fmt.Sprint(targets) != "[one.md three.png five.md]" {
		t.Errorf("links %v, want [one.md three.png five.md]", targets)
	}
}

type mdLink struct {
	target string
	line   int
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	inlineLink = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?`)
	heading    = regexp.MustCompile(`^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$`)
	linkSyntax = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// markdownLinks returns the targets of the inline, image and reference
// links outside code.
func markdownLinks(text string) []mdLink {
	var links []mdLink
	inFence := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "code")
		for _, m := range inlineLink.FindAllStringSubmatch(line, -1) {
			links = append(links, mdLink{m[1], i + 1})
		}
		if m := refLink.FindStringSubmatch(line); m != nil {
			links = append(links, mdLink{m[1], i + 1})
		}
	}
	return links
}

// headingSlugs returns the anchors GitHub gives a page's headings: the
// heading's text in lower case, without punctuation but for - and _, spaces
// made hyphens, and -1, -2 … after a slug already taken.
func headingSlugs(text string) map[string]bool {
	slugs := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		m := heading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		title := linkSyntax.ReplaceAllString(m[2], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		for n := 1; slugs[slug]; n++ {
			slug = fmt.Sprintf("%s-%d", b.String(), n)
		}
		slugs[slug] = true
	}
	return slugs
}
