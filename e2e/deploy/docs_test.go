package deploy

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readmeMaxLines keeps the README a front door: what Taskhook is, the two commands, the tour
// and where to go next. Everything else belongs under docs/.
const readmeMaxLines = 250

func TestReadmeIsShort(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n > readmeMaxLines {
		t.Errorf("README.md has %d lines, at most %d: move the detail to a page under docs/", n, readmeMaxLines)
	}
}

// markdownFiles lists README.md, SPEC.md, BENCHMARKS.md and every .md under docs/, relative
// to the root.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "SPEC.md", "BENCHMARKS.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)|<img [^>]*src="([^"]+)"`)
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	fenceLine = regexp.MustCompile("^\\s*(```|~~~)")
)

// prose is the markdown without its fenced code blocks (a "# comment" in a shell block is not
// a heading, a "](x)" in code is not a link).
func prose(md string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(md, "\n") {
		if fenceLine.MatchString(l) {
			in = !in
			continue
		}
		if !in {
			out = append(out, l)
		}
	}
	return out
}

// headingAnchors are the anchors GitHub gives the headings of a markdown file.
func headingAnchors(md string) map[string]bool {
	out := map[string]bool{}
	for _, l := range prose(md) {
		if !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		out[strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return out
}

// TestDocLinks follows every relative link of README.md, SPEC.md, BENCHMARKS.md and docs/: the
// file must exist, and an anchor into a markdown file must be one of its headings.
func TestDocLinks(t *testing.T) {
	for _, f := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range prose(string(b)) {
			for _, m := range mdLink.FindAllStringSubmatch(l, -1) {
				target := m[1] + m[2]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				path, anchor, _ := strings.Cut(target, "#")
				file := f
				if path != "" {
					file = filepath.ToSlash(filepath.Join(filepath.Dir(f), path))
				}
				if _, err := os.Stat(filepath.Join(root, file)); err != nil {
					t.Errorf("%s (prose line %d): link %q: %s does not exist", f, i+1, target, file)
					continue
				}
				if anchor == "" || !strings.HasSuffix(file, ".md") {
					continue
				}
				tb, err := os.ReadFile(filepath.Join(root, file))
				if err != nil {
					t.Fatal(err)
				}
				if !headingAnchors(string(tb))[anchor] {
					t.Errorf("%s (prose line %d): link %q: %s has no heading #%s", f, i+1, target, file, anchor)
				}
			}
		}
	}
}

// TestConfigurationDocumented: every environment variable of either service's configuration
// struct is in docs/configuration.md.
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(root, "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	tag := regexp.MustCompile(`env:"([A-Z0-9_]+)"`)
	n := 0
	for _, f := range []string{"ingest/internal/app/config.go", "dispatcher/internal/app/config.go"} {
		src, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tag.FindAllStringSubmatch(string(src), -1) {
			n++
			if !bytes.Contains(doc, []byte("`"+m[1]+"`")) {
				t.Errorf("%s reads %s, which docs/configuration.md does not describe", f, m[1])
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d variables in the config structs: has the configuration moved?", n)
	}
}

// TestNoIssueNumbersInDocs: the documents describe the product, not the sessions that built it.
func TestNoIssueNumbersInDocs(t *testing.T) {
	diary := regexp.MustCompile(`(?i)\bissues? \d+|\(issue|\bthis session\b`)
	for _, f := range markdownFiles(t) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(b), "\n") {
			if m := diary.FindString(l); m != "" {
				t.Errorf("%s:%d: %q: say what it is, not which issue or session made it", f, i+1, m)
			}
		}
	}
}

// TestNoBinariesTracked: build outputs are ignored, never committed.
func TestNoBinariesTracked(t *testing.T) {
	if _, err := os.Stat(filepath.Join(root, ".git")); err != nil {
		t.Skip("not a git checkout")
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		fh, err := os.Open(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 4)
		n, _ := fh.Read(head)
		fh.Close()
		if n == 4 && string(head) == "\x7fELF" {
			t.Errorf("%s is a compiled binary: remove it (git rm --cached) and ignore it in .gitignore", f)
		}
	}
}
