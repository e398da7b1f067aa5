package demo

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/customer"
)

//go:generate go run gendata.go -src ../../../shared/data/ja

// files are compact copies of the shared Japanese data sets (see
// data/README.md), embedded so that the demo works from the binary alone.
//
//go:embed data/names.tsv data/cities.tsv data/towns.txt data/tokyo.tsv
var files embed.FS

// prefecturePopulation is the 2020 census population in thousands, in
// customer.Prefectures order: customers live where people live.
var prefecturePopulation = []float64{
	5225, 1238, 1211, 2302, 960, 1068, 1833, 2867, 1933, 1939,
	7345, 6284, 14048, 9237, 2201, 1035, 1133, 767, 810, 2048,
	1979, 3633, 7542, 1770, 1414, 2578, 8838, 5465, 1324, 923,
	553, 671, 1888, 2800, 1342, 720, 950, 1335, 692, 5135,
	811, 1312, 1738, 1124, 1070, 1588, 1467,
}

const tokyoCode = 13

type name struct{ kanji, kana, romaji string }

type tokyoTown struct {
	postal, city, town string
	chome              bool // the town is divided into 丁目
}

// dataset is the parsed embedded data.
type dataset struct {
	lastNames   weighted[name]
	male        []name
	female      []name
	prefectures weighted[int]            // JIS code
	cities      map[int]weighted[string] // by JIS code
	towns       []string
	tokyo       []tokyoTown
}

func loadData() (*dataset, error) {
	d := &dataset{cities: map[int]weighted[string]{}}
	var last []name
	err := eachLine("data/names.tsv", 4, func(f []string) error {
		n := name{f[1], f[2], f[3]}
		switch f[0] {
		case "l":
			last = append(last, n)
		case "m":
			d.male = append(d.male, n)
		case "f":
			d.female = append(d.female, n)
		default:
			return fmt.Errorf("unknown kind %q", f[0])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// The family names come in order of frequency: weight them Zipf-like so
	// that 佐藤 and 鈴木 are common and the tail is rare.
	lw := make([]float64, len(last))
	for i := range last {
		lw[i] = 1 / float64(i+8)
	}
	d.lastNames = newWeighted(last, lw)

	byPref := map[int][]string{}
	err = eachLine("data/cities.tsv", 2, func(f []string) error {
		code, err := strconv.Atoi(f[0])
		if err != nil || code < 1 || code > len(customer.Prefectures) {
			return fmt.Errorf("bad prefecture code %q", f[0])
		}
		byPref[code] = append(byPref[code], f[1])
		return nil
	})
	if err != nil {
		return nil, err
	}
	codes := make([]int, len(customer.Prefectures))
	for i := range codes {
		codes[i] = i + 1
		cs := byPref[i+1]
		if len(cs) == 0 {
			return nil, fmt.Errorf("demo data: no cities for %s", customer.Prefectures[i])
		}
		// Wards and cities hold most people; towns and villages few.
		ws := make([]float64, len(cs))
		for j, c := range cs {
			switch {
			case strings.HasSuffix(c, "区"), strings.HasSuffix(c, "市"):
				ws[j] = 4
			case strings.HasSuffix(c, "町"):
				ws[j] = 1
			default:
				ws[j] = 0.3
			}
		}
		d.cities[i+1] = newWeighted(cs, ws)
	}
	d.prefectures = newWeighted(codes, prefecturePopulation)

	err = eachLine("data/towns.txt", 1, func(f []string) error {
		d.towns = append(d.towns, f[0])
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine("data/tokyo.tsv", 4, func(f []string) error {
		if len(f[0]) != 7 {
			return fmt.Errorf("bad postal code %q", f[0])
		}
		d.tokyo = append(d.tokyo, tokyoTown{postal: f[0][:3] + "-" + f[0][3:], city: f[1], town: f[2], chome: f[3] == "1"})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(d.male) == 0 || len(d.female) == 0 || len(d.towns) == 0 || len(d.tokyo) == 0 {
		return nil, fmt.Errorf("demo data: empty name or address list")
	}
	return d, nil
}

// eachLine calls fn with the tab-separated fields of each line of an
// embedded file, which must have n fields.
func eachLine(path string, n int, fn func([]string) error) error {
	b, err := files.ReadFile(path)
	if err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line := 0
	for sc.Scan() {
		line++
		f := strings.Split(sc.Text(), "\t")
		if len(f) != n {
			return fmt.Errorf("demo data %s:%d: want %d fields, have %d", path, line, n, len(f))
		}
		if err := fn(f); err != nil {
			return fmt.Errorf("demo data %s:%d: %w", path, line, err)
		}
	}
	return sc.Err()
}
