package sign

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sign-step/sign-step/internal/inspect"
)

// Artifact file names under --output-dir.
const (
	InspectJSONFile = "trust-inspect.json"
	InspectTextFile = "trust-inspect.txt"
	ReportFile      = "report.json"
)

// ArtifactWriter writes one file of the output directory (artifact.Dir:
// redacted, never through a symlink).
type ArtifactWriter interface {
	Write(name string, body []byte) error
}

// WriteArtifacts writes docker's trust inspect output (JSON and --pretty) for
// repos and the report to w; with repos nil (a failed run) the report alone.
func WriteArtifacts(w ArtifactWriter, rep *Report, repos []inspect.Repository) error {
	rj, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding report: %w", err)
	}
	if repos != nil {
		var js, txt bytes.Buffer
		// Formatting errors are docker's per-ref messages; the output is still written.
		_ = inspect.JSON(&js, repos)
		_ = inspect.Pretty(&txt, repos)
		if err := w.Write(InspectJSONFile, js.Bytes()); err != nil {
			return err
		}
		if err := w.Write(InspectTextFile, txt.Bytes()); err != nil {
			return err
		}
	}
	return w.Write(ReportFile, append(rj, '\n'))
}
