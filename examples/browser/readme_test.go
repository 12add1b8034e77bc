package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestREADMEQuotesLogIn keeps the README's harness code the code this
// package runs.
func TestREADMEQuotesLogIn(t *testing.T) {
	src, err := os.ReadFile("harness.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "harness.go", src, parser.ParseComments)
	require.NoError(t, err)
	var fn string
	for _, d := range f.Decls {
		if d, ok := d.(*ast.FuncDecl); ok && d.Name.Name == "logIn" {
			fn = string(src[fset.Position(d.Doc.Pos()).Offset:fset.Position(d.End()).Offset])
		}
	}
	require.NotEmpty(t, fn, "no func logIn in harness.go")
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(readme), "```go\n"+fn+"\n```"),
		"README.md must quote logIn from examples/browser/harness.go as it is:\n%s", fn)
}
