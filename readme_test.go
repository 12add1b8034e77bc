package eventcoord_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestREADMEQuotesRunnableCode keeps every Go snippet of README.md the code
// of an example or a program of this repository, line for line (indentation
// aside), so that what the README shows compiles, and runs where it is an
// Example with an Output.
func TestREADMEQuotesRunnableCode(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var sources [][]string
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		src, err := os.ReadFile(path)
		sources = append(sources, trimmedLines(string(src)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no Go snippet")
	}
	for _, b := range blocks {
		snippet := trimmedLines(strings.TrimSuffix(b[1], "\n"))
		if !slices.ContainsFunc(sources, func(src []string) bool { return contains(src, snippet) }) {
			t.Errorf("README.md's snippet is in no Go file of the repository:\n%s", b[1])
		}
	}
}

func trimmedLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// contains reports whether lines holds want as consecutive lines.
func contains(lines, want []string) bool {
	for i := 0; i+len(want) <= len(lines); i++ {
		if slices.Equal(lines[i:i+len(want)], want) {
			return true
		}
	}
	return false
}
