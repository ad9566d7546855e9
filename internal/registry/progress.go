package registry

import (
	"fmt"
	"io"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Progress configures push progress: per layer, a line with the bytes sent,
// the percentage and the rate, at most once per Every, and a last line when
// the layer is sent. The bytes are counted as ggcr reads each layer to send
// it, nothing is buffered. Layers smaller than 1 MiB and layers ggcr mounts
// or finds in the registry print nothing.
type Progress struct {
	Out   io.Writer        // nil: no progress
	Every time.Duration    // at least this long between two lines of one layer
	Now   func() time.Time // the clock; default time.Now
}

// WithProgress turns on push progress.
func WithProgress(p Progress) Option { return func(o *options) { o.progress = p } }

// progressMinSize is the smallest layer with progress lines.
const progressMinSize = 1 << 20

// progress is a Progress in use: one writer shared by the layers that are
// sent at once, each line written whole.
type progress struct {
	Progress
	mu sync.Mutex
}

func newProgress(p Progress) *progress {
	if p.Out == nil {
		return nil
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return &progress{Progress: p}
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.Out, format, args...)
}

// taggable wraps an image or index so that its layers report progress.
func (p *progress) taggable(t remote.Taggable) remote.Taggable {
	switch t := t.(type) {
	case v1.ImageIndex:
		return progressIndex{t, p}
	case v1.Image:
		return progressImage{t, p}
	}
	return t
}

type progressIndex struct {
	index
	p *progress
}

// index is v1.ImageIndex under another name: a field named ImageIndex
// would collide with the method progressIndex overrides.
type index = v1.ImageIndex

func (i progressIndex) Image(h v1.Hash) (v1.Image, error) {
	img, err := i.index.Image(h)
	if err != nil {
		return nil, err
	}
	return progressImage{img, i.p}, nil
}

func (i progressIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	idx, err := i.index.ImageIndex(h)
	if err != nil {
		return nil, err
	}
	return progressIndex{idx, i.p}, nil
}

type progressImage struct {
	v1.Image
	p *progress
}

func (i progressImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = i.p.layer(l)
	}
	return out, nil
}

func (i progressImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return i.p.layer(l), nil
}

// layer wraps l, except a registry's layer: ggcr mounts those by their
// concrete type, which a wrapper would hide.
func (p *progress) layer(l v1.Layer) v1.Layer {
	if _, ok := l.(*remote.MountableLayer); ok {
		return l
	}
	return progressLayer{l, p}
}

type progressLayer struct {
	v1.Layer
	p *progress
}

// Compressed is the stream ggcr sends; each call (a retry reads it again)
// counts from zero.
func (l progressLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	size, err := l.Layer.Size()
	if err != nil || size < progressMinSize {
		return rc, nil
	}
	d, err := l.Layer.Digest()
	if err != nil {
		return rc, nil
	}
	now := l.p.Now()
	return &countingReader{ReadCloser: rc, p: l.p, name: short(d.String()), total: size, start: now, last: now}, nil
}

func short(digest string) string {
	if len(digest) > 19 {
		return digest[:19]
	}
	return digest
}

type countingReader struct {
	io.ReadCloser
	p        *progress
	name     string
	total    int64
	n, lastN int64
	start    time.Time
	last     time.Time
	done     bool
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n += int64(n)
	now := c.p.Now()
	switch {
	case err == io.EOF && !c.done:
		c.done = true
		secs := now.Sub(c.start).Seconds()
		c.p.printf("pushed layer %s: %s in %.1fs (%s/s)\n", c.name, mib(c.n), secs, mib(rate(c.n, secs)))
	case err == nil && now.Sub(c.last) >= c.p.Every:
		secs := now.Sub(c.last).Seconds()
		c.p.printf("pushing layer %s: %s of %s (%d%%), %s/s\n", c.name, mib(c.n), mib(c.total), percent(c.n, c.total), mib(rate(c.n-c.lastN, secs)))
		c.last, c.lastN = now, c.n
	}
	return n, err
}

func rate(n int64, secs float64) int64 {
	if secs <= 0 {
		return 0
	}
	return int64(float64(n) / secs)
}

func percent(n, total int64) int64 {
	if total <= 0 {
		return 0
	}
	return n * 100 / total
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
