package jtext

import "testing"

func TestNormalize(t *testing.T) {
	cases := []struct {
		fn       func(string) string
		in, want string
	}{
		{NFKC, "ＡＢＣ１２３", "ABC123"},
		{NFKC, "ｱｲｳｴｵ", "アイウエオ"},
		{NFKC, "plain ascii", "plain ascii"},
		{Katakana, "やまだ たろう", "ヤマダ タロウ"},
		{Katakana, "ﾔﾏﾀﾞ", "ヤマダ"},
		{Clean, "  山田　 太郎 ", "山田 太郎"},
		{Clean, "x", "x"},
	}
	for _, c := range cases {
		if got := c.fn(c.in); got != c.want {
			t.Errorf("%q → %q, want %q", c.in, got, c.want)
		}
	}
}
