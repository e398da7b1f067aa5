package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/order"
)

// shop is a physical store whose POS member card identifies buyers.
type shop struct {
	id, name string
	prefs    []int // JIS codes of the prefectures it draws customers from
}

var shops = []shop{
	{"S01", "表参道店", []int{13, 11, 12}},
	{"S02", "二子玉川店", []int{13, 14}},
	{"S03", "梅田店", []int{27, 26, 28, 29}},
	{"S04", "福岡天神店", []int{40}},
}

// localShop returns a store near prefecture code, if any.
func localShop(r *rand.Rand, pref int) (shop, bool) {
	var near []shop
	for _, s := range shops {
		for _, p := range s.prefs {
			if p == pref {
				near = append(near, s)
			}
		}
	}
	if len(near) == 0 {
		return shop{}, false
	}
	return near[r.IntN(len(near))], true
}

// acquisition is a first touch (初回流入).
type acquisition struct{ channel, source, medium, campaign, referrer string }

var webAcquisition = table(
	choice[acquisition]{acquisition{"paid_search", "google", "cpc", "brand", ""}, 10},
	choice[acquisition]{acquisition{"paid_search", "google", "cpc", "generic", ""}, 8},
	choice[acquisition]{acquisition{"paid_search", "yahoo", "cpc", "generic", ""}, 3},
	choice[acquisition]{acquisition{"organic_search", "google", "organic", "", ""}, 18},
	choice[acquisition]{acquisition{"organic_search", "yahoo", "organic", "", ""}, 5},
	choice[acquisition]{acquisition{"social", "instagram", "social", "", "https://www.instagram.example.com/"}, 11},
	choice[acquisition]{acquisition{"paid_social", "instagram", "paid_social", "trial", ""}, 8},
	choice[acquisition]{acquisition{"social", "x", "social", "", "https://x.example.com/"}, 3},
	choice[acquisition]{acquisition{"line", "line", "cpc", "friend", ""}, 5},
	choice[acquisition]{acquisition{"affiliate", "a8", "affiliate", "trial", ""}, 5},
	choice[acquisition]{acquisition{"referral", "cosme.example.jp", "referral", "", "https://cosme.example.jp/reviews/"}, 4},
	choice[acquisition]{acquisition{"direct", "(direct)", "(none)", "", ""}, 20},
)

var seasons = [...]string{"winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer", "autumn", "autumn", "autumn", "winter"}

// campaignName dates a campaign the way marketers name them (2024_spring_trial).
func campaignName(theme string, at time.Time) string {
	t := at.In(clock.Tokyo)
	return fmt.Sprintf("%d_%s_%s", t.Year(), seasons[t.Month()-1], theme)
}

// person is one generated human being: who they are, how they were
// acquired, which channels know them by which identifiers, and their
// purchase traits. Identity resolution should find them again.
type person struct {
	idx    int
	r      *rand.Rand
	gender string
	last   name
	first  name
	birth  string
	pref   int
	city   string
	postal string
	addr1  string
	addr2  string
	email  string
	phone  string // E.164; empty for the few who never give one
	acq    acquisition

	home       string // the channel they first bought on (order.Channel*)
	acquiredAt time.Time
	buyer      bool
	catPref    string
	lambda     float64 // purchases per day while alive
	dropout    float64 // chance of lapsing after each purchase
	replenish  float64 // chance a consumable is re-bought on its cycle

	shop shop // their store, when they have one nearby

	// Accounts, set from the purchase history.
	shopifyID    string
	accountAt    time.Time
	accountPhone bool // the EC profile has the phone (it is optional there)
	rakutenID    string
	amazonMask   string
	amazonPhone  bool
	posCard      string
	cardAt       time.Time
	cardEmail    bool
	lineID       string
	friendAt     time.Time
	linkAt       time.Time
	anon         string // current browser id

	orders []*order.Order // history, oldest first
}

// ageBands is the age mix of a cosmetics-and-food D2C shop's buyers.
var ageBands = table(
	choice[[2]int]{[2]int{20, 29}, 11},
	choice[[2]int]{[2]int{30, 39}, 21},
	choice[[2]int]{[2]int{40, 49}, 28},
	choice[[2]int]{[2]int{50, 59}, 23},
	choice[[2]int]{[2]int{60, 69}, 13},
	choice[[2]int]{[2]int{70, 84}, 4},
)

var emailDomains = table(
	choice[string]{"example.com", 38},
	choice[string]{"example.jp", 18},
	choice[string]{"example.ne.jp", 20},
	choice[string]{"example.co.jp", 9},
	choice[string]{"example.net", 10},
	choice[string]{"example.org", 5},
)

// homeChannels is where people first buy: the shop's own EC is the largest.
var homeChannels = table(
	choice[string]{order.ChannelOwnEC, 55},
	choice[string]{order.ChannelRakuten, 21},
	choice[string]{order.ChannelAmazon, 12},
	choice[string]{order.ChannelPOS, 12},
)

var favouriteCategories = table(
	choice[string]{catSkin, 45}, choice[string]{catSupp, 22}, choice[string]{catFood, 18},
	choice[string]{catDrink, 6}, choice[string]{catBody, 9},
)

// mobilePrefixes are 090, 080 and 070 without the trunk 0 (E.164 form).
var mobilePrefixes = table(choice[string]{"90", 45}, choice[string]{"80", 40}, choice[string]{"70", 15})

var buildingWords = []string{"コーポ", "ハイツ", "メゾン", "パークハウス", "グランドール", "レジデンス", "サンライズ", "ロイヤル", "プラウド", "ヴィラ"}
var buildingNames = []string{"桜", "若葉", "青葉", "ひまわり", "藤", "欅", "朝日", "富士見", "緑が丘", "光", "ベルフォーレ", "エクセル"}

// newPerson draws everything about person idx that does not depend on the
// generator's shared state.
func (g *generator) newPerson(idx int) *person {
	r := newRand(g.seed, uint64(idx)+1)
	p := &person{idx: idx, r: r}
	switch x := r.Float64(); {
	case x < 0.69:
		p.gender = "female"
	case x < 0.97:
		p.gender = "male"
	case x < 0.98:
		p.gender = "other"
	}
	p.last = g.data.lastNames.pick(r)
	if p.gender == "male" || p.gender == "" && chance(r, 0.3) {
		p.first = g.data.male[r.IntN(len(g.data.male))]
	} else {
		p.first = g.data.female[r.IntN(len(g.data.female))]
	}
	if chance(r, 0.75) {
		band := ageBands.pick(r)
		age := between(r, band[0], band[1])
		bd := g.now.In(clock.Tokyo).AddDate(-age, 0, -r.IntN(365))
		p.birth = bd.Format("2006-01-02")
	}
	g.address(p)
	if chance(r, 0.93) {
		p.phone = g.phone(idx, r)
	}
	p.email = g.email(p)

	// Acquisition time: the shop grows, so later months bring more people.
	span := g.now.Sub(g.start)
	u := r.Float64()
	if chance(r, 0.7) {
		u = math.Sqrt(u)
	}
	p.acquiredAt = g.start.Add(time.Duration(u * float64(span))).Truncate(time.Second)

	p.home = homeChannels.pick(r)
	var hasShop bool
	p.shop, hasShop = localShop(r, p.pref)
	if p.home == order.ChannelPOS && !hasShop {
		p.home = order.ChannelOwnEC
	}
	switch p.home {
	case order.ChannelOwnEC:
		p.acq = webAcquisition.pick(r)
		if p.acq.campaign != "" {
			p.acq.campaign = campaignName(p.acq.campaign, p.acquiredAt)
		}
		p.buyer = chance(r, 0.8) // the rest signed up for the newsletter or a campaign only
	case order.ChannelRakuten:
		p.acq, p.buyer = acquisition{"marketplace", "rakuten", "marketplace", "", ""}, true
	case order.ChannelAmazon:
		p.acq, p.buyer = acquisition{"marketplace", "amazon", "marketplace", "", ""}, true
	case order.ChannelPOS:
		p.acq, p.buyer = acquisition{"store", "pos", "offline", p.shop.name, ""}, true
	}
	p.catPref = favouriteCategories.pick(r)
	if p.gender == "male" && p.catPref == catSkin && chance(r, 0.5) {
		p.catPref = catSupp
	}
	// Repeat-buying traits, heterogeneous across people (BG/NBD): a gamma
	// purchase rate and a beta dropout probability.
	p.lambda = gamma(r, 0.9, 1.0/75)
	p.dropout = beta(r, 1.6, 1.5)
	p.replenish = beta(r, 2, 2.5)
	return p
}

// address draws a prefecture by population; Tokyo gets a real postal code,
// ward and town, elsewhere a real municipality with a town name (gimei's
// towns are not tied to a city, and no postal code is made up).
func (g *generator) address(p *person) {
	r := p.r
	p.pref = g.data.prefectures.pick(r)
	block := fmt.Sprintf("%d-%d", between(r, 1, 30), between(r, 1, 25))
	if p.pref == tokyoCode {
		t := g.data.tokyo[r.IntN(len(g.data.tokyo))]
		p.postal, p.city = t.postal, t.city
		if t.chome {
			p.addr1 = fmt.Sprintf("%s%d丁目%s", t.town, between(r, 1, 5), block)
		} else {
			p.addr1 = t.town + block
		}
	} else {
		p.city = g.data.cities[p.pref].pick(r)
		p.addr1 = g.data.towns[r.IntN(len(g.data.towns))] + fmt.Sprintf("%d-", between(r, 1, 9)) + block
	}
	if chance(r, 0.45) {
		p.addr2 = fmt.Sprintf("%s%s %d%02d", buildingWords[r.IntN(len(buildingWords))], buildingNames[r.IntN(len(buildingNames))],
			between(r, 1, 12), between(r, 1, 12))
	}
}

// phone returns a unique mobile number: the subscriber digits are an affine
// permutation of the person's index, so no two people share one.
func (g *generator) phone(idx int, r *rand.Rand) string {
	n := (g.phoneA*uint64(idx) + g.phoneB) % 100000000
	return fmt.Sprintf("+81%s%08d", mobilePrefixes.pick(r), n)
}

// email returns an address on a reserved example domain, unique in this run.
func (g *generator) email(p *person) string {
	r := p.r
	first, last := p.first.romaji, p.last.romaji
	yy := ""
	if p.birth != "" {
		yy = p.birth[2:4]
	}
	var local string
	switch r.IntN(7) {
	case 0:
		local = first + "." + last
	case 1:
		local = last + "." + first
	case 2:
		local = first + "_" + last + yy
	case 3:
		local = first[:1] + last + yy
	case 4:
		local = last + first[:1] + fmt.Sprint(between(r, 1, 999))
	case 5:
		local = first + fmt.Sprint(between(r, 100, 9999))
	default:
		local = []string{"hana", "sora", "momo", "kuma", "neko", "sakura", "mint", "lemon", "yuzu", "ume"}[r.IntN(10)] +
			"-" + first + fmt.Sprint(between(r, 1, 99))
	}
	domain := emailDomains.pick(r)
	addr := local + "@" + domain
	for n := 2; ; n++ {
		if _, taken := g.emails[addr]; !taken {
			break
		}
		addr = fmt.Sprintf("%s%d@%s", local, n, domain)
	}
	g.emails[addr] = struct{}{}
	return addr
}

// profile is what a full sign-up form tells about the person.
func (p *person) profile() customer.Profile {
	return customer.Profile{
		LastName: p.last.kanji, FirstName: p.first.kanji, LastNameKana: p.last.kana, FirstNameKana: p.first.kana,
		Email: p.email, Phone: p.phone, Birthday: p.birth, Gender: p.gender,
		PostalCode: p.postal, Prefecture: customer.Prefectures[p.pref-1], City: p.city, Address1: p.addr1, Address2: p.addr2,
	}
}

// shipTo is the name and address an order carries.
func (p *person) shipTo(withKana bool) customer.Profile {
	pr := customer.Profile{
		LastName: p.last.kanji, FirstName: p.first.kanji,
		PostalCode: p.postal, Prefecture: customer.Prefectures[p.pref-1], City: p.city, Address1: p.addr1, Address2: p.addr2,
	}
	if withKana {
		pr.LastNameKana, pr.FirstNameKana = p.last.kana, p.first.kana
	}
	return pr
}

// firstTouch copies the acquisition into a profile.
func (p *person) firstTouch(pr *customer.Profile) {
	pr.AcqChannel, pr.AcqSource, pr.AcqMedium, pr.AcqCampaign, pr.AcqReferrer = p.acq.channel, p.acq.source, p.acq.medium, p.acq.campaign, p.acq.referrer
}

// hexID returns n random lower-case hex digits.
func hexID(r *rand.Rand, n int) string {
	var b strings.Builder
	const digits = "0123456789abcdef"
	for i := 0; i < n; i++ {
		b.WriteByte(digits[r.IntN(16)])
	}
	return b.String()
}

// lineEarly reports whether the person was a LINE friend for more than a
// day before linking: their LINE events then start a customer of their own.
func (p *person) lineEarly() bool {
	return p.friendAt.Before(p.linkAt.Add(-24 * time.Hour))
}
