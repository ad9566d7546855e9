package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/sign-step/sign-step/internal/testenv"
)

const (
	rootPass = "bench-root-passphrase"
	repoPass = "bench-repo-passphrase"
	signer   = "ci"
)

// world is the running servers plus the clients and keys every tool shares.
type world struct {
	env        *testenv.Env
	dir        string
	signStep   string
	crane      string
	notaryHost string

	docker    *testenv.CLI // docker CLI holding the root, targets and ci keys
	keyFile   string       // docker's encrypted ci key (role: ci)
	pubFile   string
	notaryCLI *testenv.CLI // notary CLI whose trust dir holds only the ci key

	img      v1.Image // small real image (one file) every tag points to
	seq      atomic.Int64
	proxy    *countingProxy
	initLock sync.Mutex
	pprofBin string              // the -tags pprof build, made on first use
	curlDown map[string][]sample // gun → the download half of each curl floor run
}

// repo returns a fresh repository name on host.
func (w *world) repo(host, name string) string {
	return fmt.Sprintf("%s/bench/%s-%d", host, name, w.seq.Add(1))
}

// newDocker makes a docker CLI with its own config that trusts the CA for
// the registry, the counting proxy and notary.
func (w *world) newDocker(hosts ...string) (*testenv.CLI, error) {
	home := filepath.Join(w.dir, "docker-home")
	config := filepath.Join(home, ".docker")
	for _, host := range hosts {
		d := filepath.Join(config, "tls", host)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(d, "ca.crt"), w.env.CACertPEM, 0o600); err != nil {
			return nil, err
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"DOCKER_CONFIG=" + config,
		"DOCKER_CONTENT_TRUST_SERVER=" + w.env.NotaryURL,
		"DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE=" + rootPass,
		"DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE=" + repoPass,
	}
	if h, ok := os.LookupEnv("DOCKER_HOST"); ok {
		env = append(env, "DOCKER_HOST="+h)
	}
	return &testenv.CLI{Path: "docker", Env: env, ConfigDir: config}, nil
}

// makeSigner generates the ci delegation key with docker and gives the
// notary CLI a trust dir holding a copy of it.
func (w *world) makeSigner() error {
	keys := filepath.Join(w.dir, "keys")
	if err := os.MkdirAll(keys, 0o700); err != nil {
		return err
	}
	if _, _, err := w.docker.Run("trust", "key", "generate", signer, "--dir", keys); err != nil {
		return err
	}
	w.pubFile = filepath.Join(keys, signer+".pub")
	files, _ := filepath.Glob(filepath.Join(w.docker.ConfigDir, "trust", "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "role: "+signer+"\n") {
			w.keyFile = f
		}
	}
	if w.keyFile == "" {
		return errors.New("docker wrote no ci key")
	}
	home := filepath.Join(w.dir, "notary-home")
	trust := filepath.Join(home, "trust")
	if err := os.MkdirAll(filepath.Join(trust, "private"), 0o700); err != nil {
		return err
	}
	b, err := os.ReadFile(w.keyFile)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(trust, "private", filepath.Base(w.keyFile)), b, 0o600); err != nil {
		return err
	}
	w.notaryCLI = &testenv.CLI{
		Path:     w.env.NotaryCLI,
		BaseArgs: []string{"-s", w.env.NotaryURL, "--tlscacert", w.env.CACertFile, "-d", trust},
		Env:      []string{"HOME=" + home, "NOTARY_DELEGATION_PASSPHRASE=" + repoPass},
	}
	return nil
}

// initRepos initializes notary repositories with the ci signer, as a user
// would with `docker trust signer add` (targets/releases and targets/ci).
// The first repository goes alone (docker creates its root key then), the
// rest in two parallel docker processes.
func (w *world) initRepos(repos ...string) error {
	w.initLock.Lock()
	defer w.initLock.Unlock()
	add := func(rs []string) error {
		const chunk = 40
		for len(rs) > 0 {
			n := min(chunk, len(rs))
			if _, _, err := w.docker.Run(append([]string{"trust", "signer", "add", "--key", w.pubFile, signer}, rs[:n]...)...); err != nil {
				return err
			}
			rs = rs[n:]
		}
		return nil
	}
	if len(repos) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(w.docker.ConfigDir, "trust", "private")); err == nil && !w.hasRoot() {
		if err := add(repos[:1]); err != nil {
			return err
		}
		repos = repos[1:]
	}
	half := len(repos) / 2
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() { errs[0] = add(repos[:half]) })
	wg.Go(func() { errs[1] = add(repos[half:]) })
	wg.Wait()
	return errors.Join(errs...)
}

func (w *world) hasRoot() bool {
	files, _ := filepath.Glob(filepath.Join(w.docker.ConfigDir, "trust", "private", "*.key"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "role: root\n") {
			return true
		}
	}
	return false
}

// pushTags puts w.img in the registry at repo:t0001..repo:tNNNN, 16 requests
// at a time, and returns the refs.
func (w *world) pushTags(ctx context.Context, repo string, n int) ([]string, error) {
	opts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(w.env.Transport())}
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("%s:t%04d", repo, i+1)
	}
	first, err := name.NewTag(refs[0], name.StrictValidation)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(first, w.img, opts...); err != nil {
		return nil, err
	}
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t, err := name.NewTag(refs[i], name.StrictValidation)
			if err == nil {
				err = remote.Tag(t, w.img, opts...)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return refs, errors.Join(errs...)
}

// imageTarget is the digest (hex) and manifest size of w.img.
func (w *world) imageTarget() (string, int64, error) {
	d, err := w.img.Digest()
	if err != nil {
		return "", 0, err
	}
	raw, err := w.img.RawManifest()
	return d.Hex, int64(len(raw)), err
}

func smallImage() (v1.Image, error) {
	return crane.Image(map[string][]byte{"hello.txt": []byte("signed in the sign-step benchmark\n")})
}

// writeLayout writes an OCI image layout with one image of layers random
// blobs of size bytes each, streaming (no layer is held in memory).
func writeLayout(dir string, layers int, size int64, seed uint64) error {
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}
	putBlob := func(write func(io.Writer) error) (v1.Descriptor, error) {
		f, err := os.CreateTemp(blobs, ".tmp-")
		if err != nil {
			return v1.Descriptor{}, err
		}
		defer os.Remove(f.Name())
		h := sha256.New()
		cw := &countWriter{w: io.MultiWriter(f, h)}
		if err := write(cw); err != nil {
			f.Close()
			return v1.Descriptor{}, err
		}
		if err := f.Close(); err != nil {
			return v1.Descriptor{}, err
		}
		hexd := hex.EncodeToString(h.Sum(nil))
		if err := os.Rename(f.Name(), filepath.Join(blobs, hexd)); err != nil {
			return v1.Descriptor{}, err
		}
		return v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: hexd}, Size: cw.n}, nil
	}
	putJSON := func(v any) (v1.Descriptor, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return v1.Descriptor{}, err
		}
		return putBlob(func(w io.Writer) error { _, err := w.Write(b); return err })
	}
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 's', 'i', 'g', 'n'}))
	var layerDescs []v1.Descriptor
	var diffIDs []string
	buf := make([]byte, 1<<20)
	for i := 0; i < layers; i++ {
		d, err := putBlob(func(w io.Writer) error {
			for left := size; left > 0; {
				n := min(int64(len(buf)), left)
				for j := 0; j < int(n); j += 8 {
					v := rng.Uint64()
					for k := 0; k < 8 && j+k < int(n); k++ {
						buf[j+k] = byte(v >> (8 * k))
					}
				}
				if _, err := w.Write(buf[:n]); err != nil {
					return err
				}
				left -= n
			}
			return nil
		})
		if err != nil {
			return err
		}
		d.MediaType = "application/vnd.oci.image.layer.v1.tar+gzip"
		layerDescs = append(layerDescs, d)
		diffIDs = append(diffIDs, d.Digest.String())
	}
	cfg, err := putJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return err
	}
	cfg.MediaType = "application/vnd.oci.image.config.v1+json"
	man, err := putJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        cfg,
		"layers":        layerDescs,
	})
	if err != nil {
		return err
	}
	man.MediaType = "application/vnd.oci.image.manifest.v1+json"
	idx, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []v1.Descriptor{man},
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), idx, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// countingProxy is a TLS reverse proxy on loopback in front of the registry
// that counts request body bytes: blob bytes (uploads) and manifest bytes.
type countingProxy struct {
	Host          string
	blob, mani    atomic.Int64
	srv           *http.Server
	ln            net.Listener
	blobRequests  atomic.Int64
	totalRequests atomic.Int64
}

func startProxy(env *testenv.Env) (*countingProxy, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(env.Dir, "server.crt"), filepath.Join(env.Dir, "server.key"))
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return nil, err
	}
	target, _ := url.Parse("https://" + env.RegistryHost)
	p := &countingProxy{Host: ln.Addr().String(), ln: ln}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = env.Transport()
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.totalRequests.Add(1)
		if r.Body != nil {
			c := &p.mani
			if strings.Contains(r.URL.Path, "/blobs/") {
				c = &p.blob
				p.blobRequests.Add(1)
			}
			r.Body = &countReader{r: r.Body, n: c}
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *countingProxy) reset() {
	p.blob.Store(0)
	p.mani.Store(0)
	p.blobRequests.Store(0)
	p.totalRequests.Store(0)
}

func (p *countingProxy) close() { p.srv.Close() }

type countReader struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
func (c *countReader) Close() error { return c.r.Close() }

// buildCrane builds crane at the go-containerregistry version of go.mod into
// the tools cache (os.UserCacheDir()/sign-step/tools/crane-VERSION-GOVERSION).
func buildCrane(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", "github.com/google/go-containerregistry").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m go-containerregistry: %w", err)
	}
	version := strings.TrimSpace(string(out))
	gv, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "sign-step", "tools", "crane-"+version+"-"+strings.TrimSpace(string(gv)))
	bin := filepath.Join(dir, "crane")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/google/go-containerregistry/cmd/crane@"+version)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install crane@%s: %w\n%s", version, err, b)
	}
	return bin, nil
}
