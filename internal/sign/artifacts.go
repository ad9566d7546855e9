package sign

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

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
// Write is called from several goroutines at once.
type ArtifactWriter interface {
	Write(name string, body []byte) error
}

// WriteArtifacts writes docker's trust inspect output (JSON and --pretty) for
// repos and the report to w; with repos nil (a failed run) the report alone.
// A file that fails is reported; the others are still written.
func WriteArtifacts(w ArtifactWriter, rep *Report, repos []inspect.Repository) error {
	// The three files are independent, and a 1000-tag run's are megabytes
	// of JSON and text: each is encoded, redacted and written on its own.
	var wg sync.WaitGroup
	var errs [3]error
	wg.Go(func() {
		rj, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			errs[0] = fmt.Errorf("encoding report: %w", err)
			return
		}
		errs[0] = w.Write(ReportFile, append(rj, '\n'))
	})
	if repos != nil {
		// Formatting errors are docker's per-ref messages; the output is still written.
		wg.Go(func() {
			var js bytes.Buffer
			_ = inspect.JSON(&js, repos)
			errs[1] = w.Write(InspectJSONFile, js.Bytes())
		})
		wg.Go(func() {
			var txt bytes.Buffer
			_ = inspect.Pretty(&txt, repos)
			errs[2] = w.Write(InspectTextFile, txt.Bytes())
		})
	}
	wg.Wait()
	return errors.Join(errs[:]...)
}
