package sign

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sign-step/sign-step/internal/inspect"
)

// Artifact file names under --output-dir.
const (
	InspectJSONFile = "trust-inspect.json"
	InspectTextFile = "trust-inspect.txt"
	ReportFile      = "report.json"
)

// WriteArtifacts writes docker's trust inspect output (JSON and --pretty) for
// repos and the report to dir; with repos nil (a failed run) the report
// alone. filter sees every byte before it reaches a file.
func WriteArtifacts(dir string, rep *Report, repos []inspect.Repository, filter func(io.Writer) io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating output directory: %w", err)
	}
	var js, txt bytes.Buffer
	// Formatting errors are docker's per-ref messages; the output is still written.
	_ = inspect.JSON(&js, repos)
	_ = inspect.Pretty(&txt, repos)
	rj, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	files := map[string][]byte{ReportFile: append(rj, '\n')}
	if repos != nil {
		files[InspectJSONFile], files[InspectTextFile] = js.Bytes(), txt.Bytes()
	}
	for name, body := range files {
		if err := writeFile(filepath.Join(dir, name), body, filter); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(path string, body []byte, filter func(io.Writer) io.Writer) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing artifact: %w", err)
	}
	var w io.Writer = f
	if filter != nil {
		w = filter(f)
	}
	if _, err := w.Write(body); err != nil {
		f.Close()
		return fmt.Errorf("writing artifact %s: %w", path, err)
	}
	return f.Close()
}
