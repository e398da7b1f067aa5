package ui

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"time"

	"github.com/enishi-crm/enishi/internal/errs"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
)

//go:embed locale
var localeFS embed.FS

// langCookie remembers the language a person chose.
const langCookie = "enishi_lang"

// defaultLang is Japanese: the shops enishi is for are Japanese.
const defaultLang = "ja"

// locale is one language's message catalogue. Every visible string of the
// UI is a key in it; a key missing from English falls back to Japanese.
type locale struct {
	Code     string
	msgs     map[string]string
	fallback *locale
}

type locales struct {
	byCode map[string]*locale
}

func loadLocales() (*locales, error) {
	ls := &locales{byCode: map[string]*locale{}}
	for _, code := range []string{"ja", "en"} {
		l := &locale{Code: code, msgs: map[string]string{}}
		// locale/CODE.json holds the common catalogue; each area may keep
		// its own keys in locale/CODE/AREA.json. A key defined twice is an
		// error, so two files never silently disagree.
		files := []string{"locale/" + code + ".json"}
		more, err := fs.Glob(localeFS, "locale/"+code+"/*.json")
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
		for _, f := range files {
			b, err := localeFS.ReadFile(f)
			if err != nil {
				return nil, err
			}
			var msgs map[string]string
			if err := json.Unmarshal(b, &msgs); err != nil {
				return nil, fmt.Errorf("ui locale %s: %w", f, err)
			}
			for k, v := range msgs {
				if _, dup := l.msgs[k]; dup {
					return nil, fmt.Errorf("ui locale %s: key %q is defined twice", f, k)
				}
				l.msgs[k] = v
			}
		}
		ls.byCode[code] = l
	}
	ls.byCode["en"].fallback = ls.byCode["ja"]
	return ls, nil
}

// T returns the message for key with args formatted in (fmt verbs); an
// unknown key shows as itself so that a gap is visible, never blank.
func (l *locale) T(key string, args ...any) string {
	m, ok := l.msgs[key]
	if !ok && l.fallback != nil {
		m, ok = l.fallback.msgs[key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(m, args...)
	}
	return m
}

// Has reports whether key exists.
func (l *locale) Has(key string) bool { _, ok := l.msgs[key]; return ok }

// localeFor picks the request's language: the cookie, else Japanese.
func (u *UI) localeFor(r *http.Request) *locale {
	if c, err := r.Cookie(langCookie); err == nil {
		if l := u.locales.byCode[c.Value]; l != nil {
			return l
		}
	}
	return u.locales.byCode[defaultLang]
}

// errorText is the message shown for a failed form: the catalogue's text for
// the error's field when it has one ("error.field.<field>"), else the
// store's own explanation.
func (l *locale) errorText(err error) string {
	var e *errs.Error
	if ok := asErr(err, &e); ok && e.Field != "" && l.Has("error.field."+e.Field) {
		return l.T("error.field."+e.Field) + " (" + errs.Message(err) + ")"
	}
	return errs.Message(err)
}

// language switches the UI language (a cookie kept for a year) and returns
// to the page the person was on.
func (u *UI) language(w http.ResponseWriter, r *http.Request) error {
	code := r.PathValue("code")
	if _, ok := u.locales.byCode[code]; !ok {
		return errs.Errorf(errs.NotFound, "no language %q", code)
	}
	http.SetCookie(w, &http.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: int((365 * 24 * time.Hour).Seconds()),
		HttpOnly: true, Secure: u.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, enishihttp.LocalRedirectTarget(r.URL.Query().Get("next")), http.StatusSeeOther)
	return nil
}
