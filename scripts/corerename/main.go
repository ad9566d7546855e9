// Command corerename moves sign-step's shared types out of the use-case
// package internal/sign into internal/core, and rewrites every reference:
// the error classes (errors.go), Secret (secret.go), Ref (ref.go) and the
// descriptor types (Descriptor, Target, Changes, RoleMeta of sign.go).
// It is mechanical and idempotent in effect: run it from the repository
// root on a tree that still has them in internal/sign (after a merge that
// brought new uses of sign.X, run it again on the merged tree, with the
// moves undone by `git checkout <pre-core commit> -- internal/sign`, or
// simply re-run: files already moved are skipped and new sign.X uses of a
// moved name are rewritten).
//
//	go run ./scripts/corerename && gofmt -l . && go build ./... && go vet ./...
package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

const (
	module   = "github.com/sign-step/sign-step"
	signDir  = "internal/sign"
	coreDir  = "internal/core"
	signPath = module + "/" + signDir
	corePath = module + "/" + coreDir
)

const coreDoc = `// Package core holds the types every layer of sign-step shares: the error
// classes and their exit codes, Secret, image references (Ref) and the
// descriptor types of trust data. It imports nothing of sign-step, so the
// adapters take their types from here and import the use cases (internal/sign)
// only for the ports they implement.
package core
`

var movedFiles = []string{"errors.go", "secret.go", "ref.go", "ref_test.go"}

// movedDecls are the type declarations of sign.go that move to descriptor.go.
var movedDecls = []string{"Descriptor", "Target", "Changes", "RoleMeta"}

func main() {
	if err := os.MkdirAll(coreDir, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, f := range movedFiles {
		moveFile(f)
	}
	moveDecls()
	write(filepath.Join(coreDir, "doc.go"), []byte(coreDoc))
	names := coreNames()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "vendor" || n == "node_modules" || path == coreDir {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") && !strings.HasPrefix(path, "scripts/corerename") {
			rewrite(path, names)
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}

func moveFile(name string) {
	from, to := filepath.Join(signDir, name), filepath.Join(coreDir, name)
	b, err := os.ReadFile(from)
	if os.IsNotExist(err) {
		return // moved already
	}
	if err != nil {
		log.Fatal(err)
	}
	b = bytes.Replace(b, []byte("package sign\n"), []byte("package core\n"), 1)
	if err := os.WriteFile(to, b, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Remove(from); err != nil {
		log.Fatal(err)
	}
}

// moveDecls cuts movedDecls (with their doc comments) out of sign.go into
// core/descriptor.go.
func moveDecls() {
	path := filepath.Join(signDir, "sign.go")
	src, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		log.Fatal(err)
	}
	type span struct{ start, end int }
	var cuts []span
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.TYPE || len(g.Specs) != 1 {
			continue
		}
		ts := g.Specs[0].(*ast.TypeSpec)
		if !slices.Contains(movedDecls, ts.Name.Name) {
			continue
		}
		start := g.Pos()
		if g.Doc != nil {
			start = g.Doc.Pos()
		}
		cuts = append(cuts, span{fset.Position(start).Offset, fset.Position(g.End()).Offset})
	}
	if len(cuts) == 0 {
		return // moved already
	}
	var moved bytes.Buffer
	moved.WriteString("package core\n\nimport \"time\"\n\n")
	for _, c := range cuts {
		moved.Write(src[c.start:c.end])
		moved.WriteString("\n\n")
	}
	out := string(src)
	for i := len(cuts) - 1; i >= 0; i-- {
		end := cuts[i].end
		for end < len(out) && out[end] == '\n' {
			end++
		}
		out = out[:cuts[i].start] + out[end:]
	}
	write(filepath.Join(coreDir, "descriptor.go"), moved.Bytes())
	write(path, []byte(out))
}

// coreNames are the package-level names declared in internal/core.
func coreNames() map[string]bool {
	names := map[string]bool{}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, coreDir, func(fi fs.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pkgs {
		for _, f := range p.Files {
			for name, obj := range f.Scope.Objects {
				if obj.Kind != ast.Bad {
					names[name] = true
				}
			}
		}
	}
	return names
}

type edit struct {
	off, end int
	text     string
}

// rewrite qualifies the moved names: core.X for sign.X everywhere, and for
// the bare X inside package sign.
func rewrite(path string, names map[string]bool) {
	src, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		log.Fatal(err)
	}
	inSign := filepath.Dir(path) == signDir && f.Name.Name == "sign"
	signName := importName(f, signPath, "sign")
	if !inSign && signName == "" {
		return
	}
	var edits []edit
	off := func(p token.Pos) int { return fset.Position(p).Offset }
	var stack []ast.Node
	ast.Inspect(f, func(n ast.Node) bool {
		if n == nil {
			stack = stack[:len(stack)-1]
			return true
		}
		parent := ast.Node(nil)
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
		}
		stack = append(stack, n)
		switch x := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && !inSign && id.Name == signName && id.Obj == nil && names[x.Sel.Name] {
				edits = append(edits, edit{off(id.Pos()), off(id.End()), "core"})
			}
		case *ast.Ident:
			if !inSign || x.Obj != nil || !names[x.Name] || isDeclOrField(x, parent, stack) {
				return true
			}
			edits = append(edits, edit{off(x.Pos()), off(x.Pos()), "core."})
		}
		return true
	})
	if len(edits) == 0 {
		return
	}
	sort.Slice(edits, func(i, j int) bool { return edits[i].off > edits[j].off })
	out := string(src)
	for _, e := range edits {
		out = out[:e.off] + e.text + out[e.end:]
	}
	out = fixImports(path, out, inSign)
	write(path, []byte(out))
}

// isDeclOrField says whether id names a field, a method or a selector
// rather than referring to a package-level name.
func isDeclOrField(id *ast.Ident, parent ast.Node, stack []ast.Node) bool {
	switch p := parent.(type) {
	case *ast.SelectorExpr:
		return p.Sel == id
	case *ast.Field:
		return slices.Contains(p.Names, id)
	case *ast.FuncDecl:
		return p.Name == id
	case *ast.TypeSpec:
		return p.Name == id
	case *ast.ValueSpec:
		return slices.Contains(p.Names, id)
	case *ast.KeyValueExpr:
		// A key of a struct literal is a field name; a constant key of a map
		// literal (map[Class]string{ClassUsage: ...}) is a reference. Types
		// and their fields share names (Ref, Descriptor), constants do not.
		if p.Key == id && len(stack) >= 3 {
			if _, ok := stack[len(stack)-3].(*ast.CompositeLit); ok {
				return !strings.HasPrefix(id.Name, "Class")
			}
		}
	}
	return false
}

func importName(f *ast.File, path, def string) string {
	for _, im := range f.Imports {
		if strings.Trim(im.Path.Value, `"`) == path {
			if im.Name != nil {
				return im.Name.Name
			}
			return def
		}
	}
	return ""
}

// fixImports adds internal/core next to internal/sign, and drops
// internal/sign where no sign.X is left.
func fixImports(path, src string, inSign bool) string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ImportsOnly)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	if importName(f, corePath, "core") != "" {
		return dropSign(path, src, inSign)
	}
	coreLine := "\t\"" + corePath + "\"\n"
	signLine := "\t\"" + signPath + "\"\n"
	switch {
	case strings.Contains(src, signLine):
		src = strings.Replace(src, signLine, coreLine+signLine, 1)
	case strings.Contains(src, "import (\n"):
		// After the last import of the module, else at the end of the block.
		i := strings.Index(src, "import (\n")
		j := i + strings.Index(src[i:], "\n)\n")
		block := src[i:j]
		if k := strings.LastIndex(block, "\t\""+module+"/"); k >= 0 {
			nl := strings.Index(block[k:], "\n")
			src = src[:i+k+nl+1] + coreLine + src[i+k+nl+1:]
		} else {
			src = src[:j+1] + "\n" + coreLine + src[j+1:]
		}
	default:
		i := strings.Index(src, "\nimport ")
		if i < 0 {
			p := strings.Index(src, "package ")
			pkgEnd := p + strings.Index(src[p:], "\n")
			src = src[:pkgEnd+1] + "\nimport (\n" + coreLine + ")\n" + src[pkgEnd+1:]
		} else {
			end := strings.Index(src[i+1:], "\n") + i + 1
			single := strings.TrimPrefix(src[i+1:end], "import ")
			src = src[:i+1] + "import (\n\t" + single + "\n\n" + coreLine + ")" + src[end:]
		}
	}
	return dropSign(path, src, inSign)
}

func dropSign(path, src string, inSign bool) string {
	if inSign {
		return src
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		log.Fatalf("%s: %v", path, err)
	}
	name := importName(f, signPath, "sign")
	used := false
	ast.Inspect(f, func(n ast.Node) bool {
		if s, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := s.X.(*ast.Ident); ok && id.Name == name && id.Obj == nil {
				used = true
			}
		}
		return !used
	})
	if used {
		return src
	}
	for _, im := range f.Imports {
		if strings.Trim(im.Path.Value, `"`) == signPath {
			start, end := fset.Position(im.Pos()).Offset, fset.Position(im.End()).Offset
			lineStart := strings.LastIndex(src[:start], "\n") + 1
			lineEnd := end + strings.Index(src[end:], "\n") + 1
			return src[:lineStart] + src[lineEnd:]
		}
	}
	return src
}

func write(path string, b []byte) {
	if formatted, err := format.Source(b); err == nil {
		b = formatted
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

func init() { log.SetFlags(0); log.SetPrefix(fmt.Sprintf("%s: ", filepath.Base(os.Args[0]))) }
