package sign

import (
	"bytes"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/sign-step/sign-step/internal/inspect"
)

// files is an ArtifactWriter that keeps what it is given, failing on one name.
type files struct {
	mu     sync.Mutex
	got    map[string][]byte
	failOn string
}

func (f *files) Write(name string, body []byte) error {
	if name == f.failOn {
		return errors.New("disk full")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got[name] = append([]byte(nil), body...)
	return nil
}

func TestWriteArtifacts(t *testing.T) {
	t.Parallel()
	repos := []inspect.Repository{{Name: "example.com/app:v1"}}
	cases := []struct {
		name    string
		repos   []inspect.Repository
		failOn  string
		want    []string
		wantErr bool
	}{
		{"a run that signed", repos, "", []string{InspectJSONFile, InspectTextFile, ReportFile}, false},
		{"a failed run: the report alone", nil, "", []string{ReportFile}, false},
		{"a write fails: the others are written", repos, InspectTextFile, []string{InspectJSONFile, ReportFile}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &files{got: map[string][]byte{}, failOn: tc.failOn}
			err := WriteArtifacts(w, &Report{Command: "sign"}, tc.repos)
			if (err != nil) != tc.wantErr {
				t.Fatalf("WriteArtifacts: %v, want error %v", err, tc.wantErr)
			}
			var names []string
			for n := range w.got {
				names = append(names, n)
			}
			sort.Strings(names)
			want := append([]string(nil), tc.want...)
			sort.Strings(want)
			if !reflect.DeepEqual(names, want) {
				t.Errorf("wrote %v, want %v", names, want)
			}
			if b, ok := w.got[ReportFile]; ok && (!bytes.HasPrefix(b, []byte("{\n  \"command\": \"sign\",")) || !bytes.HasSuffix(b, []byte("}\n"))) {
				t.Errorf("report.json = %q", b)
			}
			// The inspect files are exactly what package inspect prints.
			if b, ok := w.got[InspectJSONFile]; ok {
				var js bytes.Buffer
				_ = inspect.JSON(&js, repos)
				if !bytes.Equal(b, js.Bytes()) {
					t.Errorf("trust-inspect.json = %q, want %q", b, js.Bytes())
				}
			}
		})
	}
}
