package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"

	"github.com/enishi-crm/enishi/internal/errs"
)

//go:embed static
var staticFS embed.FS

// assets serves the embedded CSS, JavaScript and vendored libraries. URLs
// carry a hash of the content (?v=…), so browsers may keep them for a year.
type assets struct {
	version string
	mu      sync.Mutex
	gz      map[string][]byte // compressed once, on first request
}

func loadAssets() (*assets, error) {
	h := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		h.Write(b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &assets{version: hex.EncodeToString(h.Sum(nil))[:12], gz: map[string][]byte{}}, nil
}

// url is the address of a static file, e.g. asset "app.css".
func (a *assets) url(name string) string { return "/static/" + name + "?v=" + a.version }

// static serves one embedded file, gzip-compressed when the browser accepts it.
func (u *UI) static(w http.ResponseWriter, r *http.Request) error {
	name := path.Clean("/" + r.PathValue("file"))[1:]
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.HasPrefix(name, ".") {
		return errs.Errorf(errs.NotFound, "no file %s", name)
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	h.Set("Content-Type", ctype)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Get("v") == u.assets.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	h.Set("ETag", `"`+u.assets.version+`"`)
	if r.Header.Get("If-None-Match") == `"`+u.assets.version+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	compressible := strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") || strings.Contains(ctype, "json")
	if compressible && len(b) > 1024 && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
		b = u.assets.gzipped(name, b)
	}
	_, err = w.Write(b)
	return err
}

func (a *assets) gzipped(name string, b []byte) []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	if z, ok := a.gz[name]; ok {
		return z
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	a.gz[name] = buf.Bytes()
	return a.gz[name]
}
