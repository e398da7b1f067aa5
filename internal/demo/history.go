package demo

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
)

// Sources: the systems the demo's records come from.
const (
	SourceShopify = "shopify" // the shop's own EC
	SourceRakuten = "rakuten"
	SourceAmazon  = "amazon"
	SourcePOS     = "pos"
	SourceWeb     = "web" // the JS tag on the own EC
	SourceLine    = "line"
	// LineProvider is the LINE provider id the shop's official account
	// belongs to; LINE user ids are only unique within a provider.
	LineProvider = "1656284710"
)

const (
	rakutenShop = "tsumugido" // the shop's id on 楽天市場
	// maxOrders caps one person's history, so a rare very frequent buyer
	// cannot dominate the data.
	maxOrders = 60
)

// Hours of day (Asia/Tokyo) at which people order: online mostly in the day
// with an evening bump, in stores during opening hours.
var (
	onlineHours = newWeighted([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23},
		[]float64{0.6, 0.3, 0.15, 0.1, 0.1, 0.2, 0.6, 1.2, 2, 3, 3.5, 3.5, 4, 3.5, 3.2, 3.2, 3, 3, 3, 3.2, 3.4, 3.4, 2.6, 1.4})
	storeHours = newWeighted([]int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19},
		[]float64{1, 2, 3, 3, 3.5, 3.5, 3, 3, 2.5, 1.5})
)

// atHour moves t to a random time of day on its Tokyo date.
func atHour(r *rand.Rand, t time.Time, channel string) time.Time {
	h := onlineHours
	if channel == order.ChannelPOS {
		h = storeHours
	}
	day := clock.StartOfDay(t)
	return day.Add(time.Duration(h.pick(r))*time.Hour + time.Duration(r.IntN(3600))*time.Second).UTC()
}

var linesPerOrder = table(choice[int]{1, 55}, choice[int]{2, 28}, choice[int]{3, 12}, choice[int]{4, 5})

// history draws the person's purchases from the repeat-buying process:
// while alive they buy at their own rate (or, for consumables they
// replenish, near the product's cycle) and may lapse after every purchase.
func (g *generator) history(p *person) {
	r := p.r
	if !p.buyer {
		return
	}
	t := p.acquiredAt
	if p.home == order.ChannelOwnEC && chance(r, 0.35) {
		t = t.Add(time.Duration(r.ExpFloat64() * 12 * float64(24*time.Hour))) // browsed first, bought later
	}
	var prev *order.Order
	for len(p.orders) < maxOrders {
		ch := p.home
		if prev != nil && chance(r, 0.18) {
			ch = g.otherChannel(p)
		}
		at := atHour(r, t, ch)
		if prev != nil && !at.After(prev.OrderedAt) {
			at = prev.OrderedAt.Add(time.Duration(30+r.IntN(600)) * time.Minute)
		}
		if at.After(g.now) {
			break
		}
		o := &order.Order{OrderedAt: at, Channel: ch, Currency: "JPY"}
		g.basket(p, o, prev)
		p.orders = append(p.orders, o)
		if chance(r, p.dropout) {
			break
		}
		prev = o
		t = at.Add(g.gap(p, o))
	}
}

// otherChannel is where a repeat buyer occasionally buys instead.
func (g *generator) otherChannel(p *person) string {
	for {
		ch := homeChannels.pick(p.r)
		if ch == p.home || ch == order.ChannelPOS && p.shop.id == "" {
			continue
		}
		return ch
	}
}

// gap is the time to the next purchase: the cycle of a consumable in the
// order (times its quantity) for people who replenish, else exponential at
// the person's rate.
func (g *generator) gap(p *person, o *order.Order) time.Duration {
	r := p.r
	days := 0.0
	for _, l := range o.Lines {
		it := g.items[l.SKU]
		if it.ReplenishmentDays > 0 {
			d := float64(it.ReplenishmentDays) * float64(l.Quantity)
			if days == 0 || d < days {
				days = d
			}
		}
	}
	if days > 0 && chance(r, p.replenish) {
		jitter := 0.9 + 0.25*r.NormFloat64()
		days *= min(max(jitter, 0.6), 1.6)
	} else {
		days = r.ExpFloat64() / p.lambda
	}
	return time.Duration(days * float64(24*time.Hour))
}

// basket fills an order's lines, totals and status. A repeat order of a
// replenisher carries over the consumables of the previous one.
func (g *generator) basket(p *person, o *order.Order, prev *order.Order) {
	r := p.r
	chosen := map[string]bool{}
	add := func(it *item, qty int64) {
		chosen[it.SKU] = true
		o.Lines = append(o.Lines, order.Line{LineNo: len(o.Lines) + 1, SKU: it.SKU, ProductName: it.Name, Category: it.Category,
			Quantity: qty, UnitPrice: it.Price, Amount: qty * it.Price})
	}
	if prev != nil {
		for _, l := range prev.Lines {
			if it := g.items[l.SKU]; it.ReplenishmentDays > 0 && chance(r, 0.8) {
				add(it, l.Quantity)
			}
		}
	}
	want := linesPerOrder.pick(r)
	if len(o.Lines) > 0 {
		want = len(o.Lines)
		if chance(r, 0.25) {
			want++
		}
	}
	for tries := 0; len(o.Lines) < want && tries < 20; tries++ {
		it := g.pickItem(p, o.OrderedAt, prev == nil)
		if chosen[it.SKU] {
			continue
		}
		qty := int64(1)
		switch x := r.Float64(); {
		case it.SKU == giftCard:
		case x < 0.1:
			qty = 2
		case x < 0.13:
			qty = 3
		}
		add(it, qty)
	}
	g.price(p, o, prev == nil)
}

// pickItem draws a product: the person's favourite category and the season
// weigh in; the trial set is for first orders.
func (g *generator) pickItem(p *person, at time.Time, first bool) *item {
	r := p.r
	w := g.weightBuf
	sum := 0.0
	for i := range catalogue {
		it := &catalogue[i]
		x := it.weight * seasonBoost(it, at)
		if it.Category == p.catPref {
			x *= 4
		}
		if it.SKU == trialSKU {
			if first && p.home == order.ChannelOwnEC {
				x *= 4
			} else {
				x *= 0.1
			}
		}
		sum += x
		w[i] = sum
	}
	x := r.Float64() * sum
	for i := range w {
		if x < w[i] {
			return &catalogue[i]
		}
	}
	return &catalogue[len(catalogue)-1]
}

// price sets totals, shipping, discounts, tax and status the way each
// channel does.
func (g *generator) price(p *person, o *order.Order, first bool) {
	r := p.r
	var sub, reduced int64
	for _, l := range o.Lines {
		sub += l.Amount
		if g.items[l.SKU].reducedTax {
			reduced += l.Amount
		}
	}
	switch o.Channel {
	case order.ChannelOwnEC:
		if sub < 5500 {
			o.Shipping = 550
		}
		switch {
		case first && chance(r, 0.3):
			o.CouponCode, o.Discount = "WELCOME10", sub/10
		case !first && chance(r, 0.08):
			o.CouponCode, o.Discount = "THANKS500", min(500, sub)
		}
	case order.ChannelRakuten:
		o.ShopID = rakutenShop
		if sub < 3980 {
			o.Shipping = 600
		}
		if chance(r, 0.25) {
			o.PointsUsed = int64(between(r, 1, int(min(sub/4, 3000))))
		}
	case order.ChannelAmazon:
		o.ShopID = "amazon.co.jp"
	case order.ChannelPOS:
		o.ShopID = p.shop.id
	}
	o.Total = sub - o.Discount + o.Shipping
	// Prices include consumption tax: 8% on food and drink, 10% on the rest.
	o.Tax = reduced*8/108 + (sub-reduced+o.Shipping)*10/110
	o.Status = order.Paid
	age := g.now.Sub(o.OrderedAt)
	switch x := r.Float64(); {
	case o.Channel == order.ChannelOwnEC && age < 72*time.Hour && x < 0.2:
		o.Status = order.Pending // 代引き or bank transfer not yet paid
	case x < 0.025:
		o.Status = order.Cancelled
	case x < 0.037 && age > 7*24*time.Hour && o.Channel != order.ChannelPOS:
		o.Status = order.Refunded
	}
}

// accounts decides, from the purchase history, which systems know the
// person and by which identifiers.
func (g *generator) accounts(p *person) {
	r := p.r
	firstOn := func(ch string) time.Time {
		for _, o := range p.orders {
			if o.Channel == ch {
				return o.OrderedAt
			}
		}
		return time.Time{}
	}
	if p.home == order.ChannelOwnEC && (!p.buyer || chance(r, 0.85)) {
		p.accountAt = p.acquiredAt
		if len(p.orders) > 0 && p.orders[0].OrderedAt.Before(p.accountAt) {
			p.accountAt = p.orders[0].OrderedAt
		}
	} else if t := firstOn(order.ChannelOwnEC); !t.IsZero() && chance(r, 0.4) {
		p.accountAt = t.Add(-time.Duration(r.IntN(600)) * time.Second)
	}
	if !p.accountAt.IsZero() {
		g.seq.shopifyCustomer++
		p.shopifyID = fmt.Sprintf("%d", int64(7420000000000)+int64(g.seq.shopifyCustomer)*37)
		p.accountPhone = p.phone != "" && chance(r, 0.6)
	}
	if t := firstOn(order.ChannelRakuten); !t.IsZero() {
		g.seq.rakutenMember++
		p.rakutenID = fmt.Sprintf("rm%09d", (g.seq.rakutenMember*7919+104729)%1000000000)
	}
	if t := firstOn(order.ChannelAmazon); !t.IsZero() {
		p.amazonMask = hexID(r, 16) + "@marketplace.amazon.co.jp"
		p.amazonPhone = chance(r, 0.35)
	}
	if t := firstOn(order.ChannelPOS); !t.IsZero() {
		g.seq.posCard++
		p.posCard = ean13(fmt.Sprintf("290%09d", g.seq.posCard))
		p.cardAt = t.Add(-time.Duration(r.IntN(300)) * time.Second)
		p.cardEmail = chance(r, 0.4)
	}
	if p.shopifyID != "" {
		pLink := 0.25
		if len(p.orders) >= 2 {
			pLink = 0.45
		}
		if chance(r, pLink) {
			from := p.accountAt
			if lineStart := g.now.AddDate(-2, 0, 0); from.Before(lineStart) {
				from = lineStart
			}
			p.linkAt = from.Add(time.Duration(r.Float64() * float64(g.now.Sub(from)))).Truncate(time.Second)
			// Most add the official account as a friend in the linking
			// flow itself; some were friends for a while before.
			before := time.Duration(1+r.IntN(10)) * time.Minute
			if chance(r, 0.25) {
				before = time.Duration((1 + r.Float64()*120) * float64(24*time.Hour))
			}
			p.friendAt = p.linkAt.Add(-before).Truncate(time.Second)
			if p.friendAt.Before(g.start) {
				p.friendAt = g.start
			}
			p.lineID = "U" + hexID(r, 32)
		}
	}
}

// ean13 appends the EAN-13 check digit to 12 digits, as printed on member cards.
func ean13(d string) string {
	sum := 0
	for i := 0; i < 12; i++ {
		n := int(d[i] - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return d + fmt.Sprint((10-sum%10)%10)
}

// fileOrders gives each order its source, number and buyer as the channel
// reports them.
func (g *generator) fileOrders(p *person) {
	r := p.r
	for _, o := range p.orders {
		day := o.OrderedAt.In(clock.Tokyo)
		var b customer.Record
		switch o.Channel {
		case order.ChannelOwnEC:
			g.seq.shopifyOrder++
			o.Source, o.ExternalID = SourceShopify, fmt.Sprintf("EC%s-%06d", day.Format("060102"), g.seq.shopifyOrder)
			if p.shopifyID != "" && !o.OrderedAt.Before(p.accountAt) {
				b.Identifiers = append(b.Identifiers, identity.ExternalID(SourceShopify, p.shopifyID))
			}
			b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Email, Value: p.email})
			b.Profile = p.shipTo(true)
			b.Profile.Email = p.email
		case order.ChannelRakuten:
			g.seq.rakutenOrder++
			o.Source, o.ExternalID = SourceRakuten, fmt.Sprintf("381729-%s-%010d", day.Format("20060102"), g.seq.rakutenOrder)
			b.Identifiers = append(b.Identifiers, identity.ExternalID(SourceRakuten, p.rakutenID),
				// 楽天 masks the buyer's address with a relay address per order.
				identity.Identifier{Kind: identity.Email, Value: hexID(r, 12) + "@pc.fw.rakuten.ne.jp", Weak: true})
			b.Profile = p.shipTo(true)
		case order.ChannelAmazon:
			g.seq.amazonOrder++
			o.Source, o.ExternalID = SourceAmazon, fmt.Sprintf("249-%07d-%07d", r.IntN(10000000), g.seq.amazonOrder)
			b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Email, Value: p.amazonMask, Weak: true})
			b.Profile = p.shipTo(false)
		case order.ChannelPOS:
			g.seq.posReceipt++
			o.Source, o.ExternalID = SourcePOS, fmt.Sprintf("%s-%s-%06d", p.shop.id, day.Format("20060102"), g.seq.posReceipt)
			b.Identifiers = append(b.Identifiers, identity.ExternalID(SourcePOS, p.posCard))
		}
		withPhone := o.Channel == order.ChannelOwnEC || o.Channel == order.ChannelRakuten || o.Channel == order.ChannelAmazon && p.amazonPhone
		if p.phone != "" && withPhone {
			b.Identifiers = append(b.Identifiers, identity.Identifier{Kind: identity.Phone, Value: p.phone})
			b.Profile.Phone = p.phone
		}
		if o.Channel == p.home {
			p.firstTouch(&b.Profile)
		}
		b.SeenAt = o.OrderedAt
		o.Buyer = b
	}
}

// memberRank is the loyalty rank shown in the CRM, from paid orders.
func memberRank(p *person) string {
	n := 0
	for _, o := range p.orders {
		if o.Status == order.Paid {
			n++
		}
	}
	switch {
	case n >= 10:
		return "ゴールド"
	case n >= 4:
		return "シルバー"
	default:
		return "レギュラー"
	}
}
