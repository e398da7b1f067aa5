package customer

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/enishi-crm/enishi/internal/jtext"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/identity"
)

// Prefectures lists Japan's 47 prefectures in JIS X 0401 order (code = index+1).
var Prefectures = []string{
	"北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県",
	"埼玉県", "千葉県", "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県",
	"岐阜県", "静岡県", "愛知県", "三重県", "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県",
	"鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県", "香川県", "愛媛県", "高知県", "福岡県",
	"佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県",
}

// NormalizePrefecture accepts a prefecture's name with or without its suffix
// (東京, 東京都), or its JIS code (13), and returns the full name.
func NormalizePrefecture(s string) (string, error) {
	s = strings.TrimSpace(jtext.NFKC(s))
	if s == "" {
		return "", nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n >= 1 && n <= len(Prefectures) {
			return Prefectures[n-1], nil
		}
		return "", errs.Errorf(errs.Invalid, "%q is not a prefecture code (1–47)", s)
	}
	for _, p := range Prefectures {
		// 都, 府 and 県 are one three-byte rune each; 北海道 has no suffix to drop.
		if s == p || p != "北海道" && s == p[:len(p)-3] {
			return p, nil
		}
	}
	return "", errs.Errorf(errs.Invalid, "%q is not a Japanese prefecture", s)
}

// prefectureRomaji gives the Hepburn name of each prefecture, in
// Prefectures order, as Shopify and other foreign-made systems write them
// ("Tōkyō", "Osaka"); long-vowel marks are folded away before comparing.
var prefectureRomaji = []string{
	"hokkaido", "aomori", "iwate", "miyagi", "akita", "yamagata", "fukushima", "ibaraki", "tochigi", "gunma",
	"saitama", "chiba", "tokyo", "kanagawa", "niigata", "toyama", "ishikawa", "fukui", "yamanashi", "nagano",
	"gifu", "shizuoka", "aichi", "mie", "shiga", "kyoto", "osaka", "hyogo", "nara", "wakayama",
	"tottori", "shimane", "okayama", "hiroshima", "yamaguchi", "tokushima", "kagawa", "ehime", "kochi", "fukuoka",
	"saga", "nagasaki", "kumamoto", "oita", "miyazaki", "kagoshima", "okinawa",
}

// PrefectureFromLatin reads a prefecture written in Latin letters: its ISO
// 3166-2 code ("JP-13"), or its Hepburn name with or without long-vowel marks
// and suffix ("Tokyo", "Tōkyō", "Tokyo-to", "Osaka Prefecture", "Toukyou").
// It reports false for anything else, so that callers can fall back to
// NormalizePrefecture (Japanese names and JIS codes) and its error.
func PrefectureFromLatin(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(jtext.NFKC(s)))
	if rest, ok := strings.CutPrefix(s, "jp-"); ok {
		if n, err := strconv.Atoi(rest); err == nil && n >= 1 && n <= len(Prefectures) {
			return Prefectures[n-1], true
		}
		return "", false
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case 'ō', 'ô', 'ó', 'ò':
			return 'o'
		case 'ū', 'û', 'ú', 'ù':
			return 'u'
		case 'ā', 'â':
			return 'a'
		case 'ī', 'î':
			return 'i'
		case 'ē', 'ê':
			return 'e'
		case '_':
			return ' '
		}
		return r
	}, s)
	for _, suffix := range []string{" prefecture", " pref.", " pref", "-ken", " ken", "-fu", " fu", "-to", " to", "-do", " do"} {
		if t, ok := strings.CutSuffix(s, suffix); ok {
			s = t
			break
		}
	}
	// Wāpuro spellings write long vowels out (Toukyou, Oosaka, Hokkaidou).
	s = strings.NewReplacer("ou", "o", "oo", "o", "uu", "u").Replace(s)
	if s == "gumma" { // the older spelling of Gunma, still on some addresses
		s = "gunma"
	}
	if s == "hokkai" { // "Hokkai-do" after the suffix was cut
		s = "hokkaido"
	}
	for i, name := range prefectureRomaji {
		if s == name {
			return Prefectures[i], true
		}
	}
	return "", false
}

// NormalizeGender maps the ways exports write gender to male, female or other.
func NormalizeGender(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(jtext.NFKC(s))) {
	case "":
		return "", nil
	case "male", "m", "man", "男", "男性":
		return "male", nil
	case "female", "f", "woman", "女", "女性":
		return "female", nil
	case "other", "その他", "回答しない", "不明", "無回答", "unknown", "x":
		return "other", nil
	}
	return "", errs.Errorf(errs.Invalid, "%q is not a gender (use male, female, other, 男性, 女性)", s)
}

// NormalizeBirthday reads 1990-01-02, 1990/1/2 or 19900102.
func NormalizeBirthday(s string) (string, error) {
	s = strings.TrimSpace(jtext.NFKC(s))
	if s == "" {
		return "", nil
	}
	if i := strings.IndexAny(s, " T"); i > 0 { // a datetime: keep the date
		s = s[:i]
	}
	for _, layout := range []string{"2006-01-02", "2006/1/2", "2006-1-2", "20060102", "2006年1月2日"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1900 || t.Year() > 2100 {
				break
			}
			return t.Format("2006-01-02"), nil
		}
	}
	return "", errs.Errorf(errs.Invalid, "%q is not a date (use YYYY-MM-DD)", s)
}

// NormalizePostalCode returns a postal code as 123-4567.
func NormalizePostalCode(s string) (string, error) {
	s = strings.TrimSpace(jtext.NFKC(s))
	s = strings.TrimPrefix(s, "〒")
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		if r == '-' || r == ' ' || r == 'ー' || r == '−' {
			return -1
		}
		return 'x'
	}, s)
	if digits == "" {
		return "", nil
	}
	if len(digits) != 7 || strings.ContainsRune(digits, 'x') {
		return "", errs.Errorf(errs.Invalid, "%q is not a postal code (7 digits)", s)
	}
	return digits[:3] + "-" + digits[3:], nil
}

// SplitName splits "山田 太郎" (half- or full-width space) into 姓 and 名.
// A name without a space is kept whole as the family name.
func SplitName(s string) (last, first string) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "　", " "))
	if i := strings.IndexByte(s, ' '); i > 0 {
		return s[:i], strings.TrimSpace(s[i+1:])
	}
	return s, ""
}

// SearchTerm normalizes a search query the way SearchText normalizes the
// indexed text: NFKC, lower case, no spaces, katakana, phone digits.
func SearchTerm(q string) string {
	q = jtext.Katakana(strings.ToLower(strings.TrimSpace(q)))
	q = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, q)
	if looksLikePhone(q) {
		if p, err := identity.NormalizePhone(q); err == nil {
			return identity.NationalPhone(p)
		}
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, q)
	}
	return q
}

func looksLikePhone(q string) bool {
	digits := 0
	for _, r := range q {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '-' || r == '+' || r == '(' || r == ')' || r == 'ー':
		default:
			return false
		}
	}
	return digits >= 4
}

// SearchText is the text a customer is found by: name and kana without
// spaces, e-mail, and the phone number's national digits, all normalized.
func SearchText(p Profile) string {
	var b strings.Builder
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	nospace := func(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, " ", ""), "　", "") }
	add(strings.ToLower(nospace(jtext.NFKC(p.LastName + p.FirstName))))
	add(nospace(jtext.Katakana(p.LastNameKana + p.FirstNameKana)))
	add(p.Email)
	if p.Phone != "" {
		add(identity.NationalPhone(p.Phone))
	}
	return b.String()
}
