package customer

import "testing"

func TestFillAndOverwrite(t *testing.T) {
	p := Profile{LastName: "山田", AcqSource: "google"}
	if p.Fill(Profile{LastName: "佐藤", FirstName: "太郎", AcqSource: "line", AcqCampaign: "x"}) != true {
		t.Fatal("Fill reported no change")
	}
	if p.LastName != "山田" || p.FirstName != "太郎" || p.AcqSource != "google" || p.AcqCampaign != "" {
		t.Fatalf("after Fill: %+v", p)
	}
	if p.Fill(Profile{LastName: "山田"}) {
		t.Fatal("Fill with nothing new reported a change")
	}
	if p.Overwrite(Profile{LastName: "山田", FirstName: "太郎"}) {
		t.Fatal("Overwrite with equal values reported a change")
	}
	if !p.Overwrite(Profile{LastName: "佐藤", AcqSource: "line"}) || p.LastName != "佐藤" || p.AcqSource != "google" {
		t.Fatalf("after Overwrite: %+v", p)
	}
	q := Profile{}
	if !q.Overwrite(Profile{AcqSource: "line", AcqMedium: "social"}) || q.AcqMedium != "social" {
		t.Fatalf("first touch not set: %+v", q)
	}
}

func TestNormalizers(t *testing.T) {
	pref := map[string]string{"東京": "東京都", "東京都": "東京都", "13": "東京都", "京都": "京都府", "北海道": "北海道", "大阪": "大阪府", "沖縄県": "沖縄県", "１": "北海道"}
	for in, want := range pref {
		if got, err := NormalizePrefecture(in); err != nil || got != want {
			t.Errorf("NormalizePrefecture(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"48", "Tokyo", "東"} {
		if _, err := NormalizePrefecture(bad); err == nil {
			t.Errorf("NormalizePrefecture(%q) accepted", bad)
		}
	}
	if got, _ := NormalizePostalCode("〒１００－０００１"); got != "100-0001" {
		t.Errorf("postal = %q", got)
	}
	if _, err := NormalizePostalCode("123"); err == nil {
		t.Error("short postal code accepted")
	}
	for in, want := range map[string]string{"1990/4/1": "1990-04-01", "19900401": "1990-04-01", "1990-04-01 00:00:00": "1990-04-01", "１９９０年４月１日": "1990-04-01"} {
		if got, err := NormalizeBirthday(in); err != nil || got != want {
			t.Errorf("NormalizeBirthday(%q) = %q, %v", in, got, err)
		}
	}
	if l, f := SplitName("山田　太郎"); l != "山田" || f != "太郎" {
		t.Errorf("SplitName = %q %q", l, f)
	}
	if got := SearchText(Profile{LastName: "山田", FirstName: "太郎", LastNameKana: "やまだ", Email: "t@example.com", Phone: "+819012345678"}); got != "山田太郎 ヤマダ t@example.com 09012345678" {
		t.Errorf("SearchText = %q", got)
	}
}

func TestMask(t *testing.T) {
	p := Profile{LastName: "山田", FirstName: "太郎", Email: "taro@example.com", Phone: "+819012345678", Birthday: "1990-04-01", PostalCode: "100-0001", Prefecture: "東京都", Address1: "丸の内1-1"}
	p.Mask()
	if p.DisplayName() != "山田 ***" || p.Email != "t***@example.com" || p.Phone != "090-****-5678" || p.Birthday != "1990-**-**" || p.PostalCode != "100-****" || p.Prefecture != "東京都" || p.Address1 != "***" {
		t.Fatalf("masked = %+v", p)
	}
	s := Summary{DisplayName: "山田 太郎", NameKana: "ヤマダ タロウ", Email: "taro@example.com"}
	s.Mask()
	if s.DisplayName != "山田 ***" || s.NameKana != "ヤマダ ***" || s.Email != "t***@example.com" {
		t.Fatalf("summary = %+v", s)
	}
}

func TestPrefectureFromLatin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Tokyo": "東京都", "Tōkyō": "東京都", "TOKYO-TO": "東京都", "Toukyou": "東京都", "JP-13": "東京都", "jp-01": "北海道",
		"Hokkaidō": "北海道", "Hokkaido": "北海道", "Ōsaka": "大阪府", "Osaka-fu": "大阪府", "Kyoto Prefecture": "京都府",
		"Hyōgo": "兵庫県", "Kōchi": "高知県", "Ōita": "大分県", "Gumma": "群馬県", "Okinawa": "沖縄県", "Ｍｉｅ": "三重県",
	} {
		if got, ok := PrefectureFromLatin(in); !ok || got != want {
			t.Errorf("PrefectureFromLatin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "JP-48", "JP-0", "Kentucky", "KY", "東京都", "13", "Tokyoo-ken-x"} {
		if got, ok := PrefectureFromLatin(bad); ok {
			t.Errorf("PrefectureFromLatin(%q) = %q, want no match", bad, got)
		}
	}
	// Every prefecture's Hepburn name maps to itself in JIS order.
	for i, name := range prefectureRomaji {
		if got, ok := PrefectureFromLatin(name); !ok || got != Prefectures[i] {
			t.Errorf("%s = %q, want %q", name, got, Prefectures[i])
		}
	}
	if len(prefectureRomaji) != len(Prefectures) {
		t.Fatalf("%d romaji names for %d prefectures", len(prefectureRomaji), len(Prefectures))
	}
}
