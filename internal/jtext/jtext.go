// Package jtext normalizes Japanese text as typed into shop systems:
// full-width ASCII and half-width katakana (NFKC), hiragana/katakana.
package jtext

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NFKC applies Unicode NFKC normalization; ASCII strings, which NFKC leaves
// as they are, are returned without work (imports call this per field).
func NFKC(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFKC.String(s)
		}
	}
	return s
}

// Katakana converts hiragana to katakana after NFKC (which widens
// half-width katakana), so that either kana finds the other.
func Katakana(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'ぁ' && r <= 'ゖ' {
			return r + ('ァ' - 'ぁ')
		}
		return r
	}, NFKC(s))
}

// Clean applies NFKC, trims, and folds runs of white space (full-width
// spaces included) into one ASCII space.
func Clean(s string) string {
	s = NFKC(s)
	if !strings.ContainsAny(s, " \t\r\n\u3000") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
