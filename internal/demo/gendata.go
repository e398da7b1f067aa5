//go:build ignore

// gendata turns the shared Japanese data sets into the compact files under
// data/ that the demo generator embeds, so the binary needs nothing at run
// time. Run it from internal/demo:
//
//	go run gendata.go -src ../../../shared/data/ja
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/encoding/japanese"
)

// prefectureFirstCity is the first municipality of each prefecture in the
// gimei city list, which follows JIS X 0402 code order but does not say
// where one prefecture ends: the list is cut at these names.
var prefectureFirstCity = []string{
	"札幌市中央区", "青森市", "盛岡市", "仙台市青葉区", "秋田市", "山形市", "福島市", "水戸市", "宇都宮市", "前橋市",
	"さいたま市西区", "千葉市中央区", "千代田区", "横浜市鶴見区", "新潟市北区", "富山市", "金沢市", "福井市", "甲府市", "長野市",
	"岐阜市", "静岡市葵区", "名古屋市千種区", "津市", "大津市", "京都市北区", "大阪市都島区", "神戸市東灘区", "奈良市", "和歌山市",
	"鳥取市", "松江市", "岡山市北区", "広島市中区", "下関市", "徳島市", "高松市", "松山市", "高知市", "北九州市門司区",
	"佐賀市", "長崎市", "熊本市中央区", "大分市", "宮崎市", "鹿児島市", "那覇市",
}

func main() {
	src := flag.String("src", "../../../shared/data/ja", "directory holding gimei_*.yml and japanpost_13TOKYO.CSV")
	flag.Parse()
	if err := names(*src); err != nil {
		log.Fatal(err)
	}
	if err := addresses(*src); err != nil {
		log.Fatal(err)
	}
	if err := tokyo(*src); err != nil {
		log.Fatal(err)
	}
	lic, err := os.ReadFile(filepath.Join(*src, "LICENSE.gimei.txt"))
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("data/LICENSE.gimei.txt", lic, 0o644); err != nil {
		log.Fatal(err)
	}
}

// yamlSections reads gimei's YAML, whose entries are all lines of the form
// "- ['漢字', 'ひらがな', 'カタカナ', 'Romaji']" under nested keys, and
// returns the entries per key path ("first_name/male").
func yamlSections(path string) (map[string][][]string, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	out := map[string][][]string{}
	var order []string
	var keys []string // by indentation level
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		indent := (len(line) - len(strings.TrimLeft(line, " "))) / 2
		if strings.HasSuffix(trimmed, ":") {
			keys = append(keys[:min(indent, len(keys))], strings.TrimSuffix(trimmed, ":"))
			continue
		}
		if !strings.HasPrefix(trimmed, "- [") {
			return nil, nil, fmt.Errorf("%s: unexpected line %q", path, line)
		}
		var fields []string
		for _, p := range strings.Split(strings.Trim(trimmed[2:], "[]"), ",") {
			fields = append(fields, strings.Trim(strings.TrimSpace(p), "'"))
		}
		if len(fields) != 4 {
			return nil, nil, fmt.Errorf("%s: want 4 fields in %q", path, line)
		}
		k := strings.Join(keys, "/")
		if _, ok := out[k]; !ok {
			order = append(order, k)
		}
		out[k] = append(out[k], fields)
	}
	return out, order, sc.Err()
}

// names writes kind, kanji, katakana and lower-case romaji per line; kinds
// are l (family name, in gimei's frequency order), m and f (given names).
func names(src string) error {
	secs, _, err := yamlSections(filepath.Join(src, "gimei_names.yml"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, s := range []struct{ key, kind string }{{"last_name", "l"}, {"first_name/male", "m"}, {"first_name/female", "f"}} {
		if len(secs[s.key]) == 0 {
			return fmt.Errorf("names: no %s", s.key)
		}
		for _, e := range secs[s.key] {
			fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", s.kind, e[0], e[2], strings.ToLower(e[3]))
		}
	}
	return os.WriteFile("data/names.tsv", b.Bytes(), 0o644)
}

// addresses writes cities.tsv (JIS prefecture code and municipality) and
// towns.txt (town names, which gimei does not tie to a municipality).
func addresses(src string) error {
	secs, _, err := yamlSections(filepath.Join(src, "gimei_addresses.yml"))
	if err != nil {
		return err
	}
	cities := secs["addresses/city"]
	var b bytes.Buffer
	pref := 0
	for _, c := range cities {
		if pref < len(prefectureFirstCity) && c[0] == prefectureFirstCity[pref] {
			pref++
		}
		if pref == 0 {
			return fmt.Errorf("cities: %q comes before the first prefecture", c[0])
		}
		fmt.Fprintf(&b, "%d\t%s\n", pref, c[0])
	}
	if pref != len(prefectureFirstCity) {
		return fmt.Errorf("cities: found %d of %d prefectures", pref, len(prefectureFirstCity))
	}
	if err := os.WriteFile("data/cities.tsv", b.Bytes(), 0o644); err != nil {
		return err
	}
	b.Reset()
	for _, t := range secs["addresses/town"] {
		fmt.Fprintf(&b, "%s\n", t[0])
	}
	return os.WriteFile("data/towns.txt", b.Bytes(), 0o644)
}

// tokyo writes postal code, ward or city, town and whether the town has
// 丁目, from Japan Post's KEN_ALL file for Tokyo. Rows that are not a plain
// town (office buildings by floor, "以下に掲載がない場合", ranges in
// parentheses) are left out.
func tokyo(src string) error {
	raw, err := os.ReadFile(filepath.Join(src, "japanpost_13TOKYO.CSV"))
	if err != nil {
		return err
	}
	utf, err := japanese.ShiftJIS.NewDecoder().Bytes(raw)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.ReplaceAll(string(utf), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 15 {
			return fmt.Errorf("tokyo: %d fields in %q", len(f), line)
		}
		for i := range f {
			f[i] = strings.Trim(f[i], `"`)
		}
		postal, city, town, chome := f[2], f[7], f[8], f[11]
		if strings.ContainsAny(town, "（）、〜") || strings.Contains(town, "以下に掲載がない場合") ||
			strings.Contains(town, "次に番地がくる場合") || strings.Contains(town, "一円") || seen[postal+town] {
			continue
		}
		seen[postal+town] = true
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\n", postal, city, town, chome)
	}
	return os.WriteFile("data/tokyo.tsv", b.Bytes(), 0o644)
}
