package demo

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
)

// tagWindow is how long the JS tag has been on the shop: web events start then.
const tagWindow = 365 * 24 * time.Hour

var searchWords = []string{"化粧水", "美容液", "乳酸菌", "青汁", "だし", "グラノーラ", "ギフト", "敏感肌", "保湿", "シャンプー",
	"ハンドクリーム", "コラーゲン", "ルイボス", "お試し", "詰め替え", "母の日", "お歳暮", "もち麦", "甘酒", "日焼け止め"}

// session collects one visit's events, a minute or two apart.
type session struct {
	g    *generator
	p    *person
	at   time.Time
	anon string
	evs  []event.Event
}

// add appends an event a little after the previous one. Identified events
// carry the member id as well as the browser id, as after logging in.
func (s *session) add(name string, identified bool, sku string, props any) {
	s.at = s.at.Add(time.Duration(15+s.p.r.IntN(150)) * time.Second)
	e := event.Event{Type: "track", Name: name, OccurredAt: s.at, Source: SourceWeb, MessageID: s.g.messageID(),
		AnonymousID: s.anon, SKU: sku}
	if name == event.PageViewed {
		e.Type = "page"
	}
	e.Properties = rawJSON(props)
	e.Actor.SeenAt = s.at
	if identified {
		e.Actor.Identifiers = append(e.Actor.Identifiers, identity.ExternalID(SourceShopify, s.p.shopifyID))
	}
	e.Actor.Identifiers = append(e.Actor.Identifiers, identity.Identifier{Kind: identity.Anonymous, Value: s.anon, Weak: true})
	s.evs = append(s.evs, e)
}

type pageProps struct {
	URL   string `json:"url"`
	Title string `json:"title"`
}

type productProps struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Price    int64  `json:"price"`
	Quantity int64  `json:"quantity,omitempty"`
}

type checkoutProps struct {
	Value    int64  `json:"value"`
	Items    int    `json:"items"`
	Currency string `json:"currency"`
}

func (s *session) product(name string, it *item, qty int64) {
	s.add(name, true, it.SKU, productProps{it.SKU, it.Name, it.Category, it.Price, qty})
}

// events are the person's behaviour: visits before their own-EC orders,
// browsing without buying, a recent cart left behind for some, and taps in
// the LINE official account for those who befriended it (see lineEvents
// for early).
func (g *generator) events(p *person) (early, out []event.Event) {
	early, out = g.lineEvents(p)
	if p.shopifyID == "" || !chance(p.r, 0.4) {
		return early, out
	}
	r := p.r
	from := g.now.Add(-tagWindow)
	if from.Before(p.accountAt) {
		from = p.accountAt
	}
	newSession := func(at time.Time) *session {
		s := &session{g: g, p: p, at: at, anon: g.anonymousID(p)}
		s.add(event.PageViewed, false, "", pageProps{shopURL + "/", "つむぎ堂 公式オンラインショップ"})
		return s
	}
	var last time.Time
	for _, o := range p.orders {
		if o.OrderedAt.After(last) {
			last = o.OrderedAt
		}
		if o.Channel != order.ChannelOwnEC || o.OrderedAt.Before(from) {
			continue
		}
		// Start early enough that the checkout comes before the order.
		s := newSession(o.OrderedAt.Add(-time.Duration(len(o.Lines)*2+2)*3*time.Minute - time.Duration(r.IntN(20))*time.Minute))
		for _, l := range o.Lines {
			s.product(event.ProductViewed, g.items[l.SKU], 0)
		}
		for _, l := range o.Lines {
			s.product(event.ProductAdded, g.items[l.SKU], l.Quantity)
		}
		s.add(event.CheckoutStarted, true, "", checkoutProps{o.Total, len(o.Lines), "JPY"})
		out = append(out, s.evs...)
	}
	years := g.now.Sub(from).Hours() / (24 * 365)
	for range poisson(r, 2.5*years) {
		start := atHour(r, from.Add(time.Duration(r.Float64()*float64(g.now.Sub(from)))), order.ChannelOwnEC)
		if start.Before(from) {
			continue
		}
		s := newSession(start)
		if chance(r, 0.3) {
			s.add(event.ProductsSearch, true, "", map[string]string{"query": searchWords[r.IntN(len(searchWords))]})
		}
		for range between(r, 1, 4) {
			it := g.pickItem(p, s.at, false)
			s.product(event.ProductViewed, it, 0)
			if chance(r, 0.12) {
				s.product(event.ProductFavorite, it, 0)
			}
		}
		if chance(r, 0.2) {
			s.product(event.ProductAdded, g.pickItem(p, s.at, false), 1)
		}
		if s.at.Before(g.now) {
			out = append(out, s.evs...)
		}
	}
	// A cart abandoned in the last ten days, after the person's last order.
	if chance(r, 0.12) {
		at := atHour(r, g.now.Add(-time.Duration(r.Float64()*float64(10*24*time.Hour))), order.ChannelOwnEC)
		if at.After(last) && at.After(from) && at.Before(g.now.Add(-time.Hour)) {
			s := newSession(at)
			var value int64
			n := between(r, 1, 2)
			for i := 0; i < n; i++ {
				it := g.pickItem(p, at, false)
				s.product(event.ProductViewed, it, 0)
				s.product(event.ProductAdded, it, 1)
				value += it.Price
			}
			if chance(r, 0.55) {
				s.add(event.CheckoutStarted, true, "", checkoutProps{value, n, "JPY"})
			}
			out = append(out, s.evs...)
		}
	}
	return early, out
}

// lineEvents are what the LINE official account reports for a friend:
// the follow, then rich-menu taps. They carry only the LINE user id. Those
// from before the day the member linked their account are returned apart
// (early): written before the link, they form a customer of their own that
// linking then merges with the member.
func (g *generator) lineEvents(p *person) (early, late []event.Event) {
	if p.lineID == "" {
		return nil, nil
	}
	r := p.r
	add := func(name, typ string, at time.Time, props any) {
		e := event.Event{Type: typ, Name: name, OccurredAt: at, Source: SourceLine, MessageID: g.messageID()}
		e.Properties = rawJSON(props)
		e.Actor = customer.Record{SeenAt: at, Identifiers: []identity.Identifier{lineID(p.lineID)}}
		if p.lineEarly() && at.Before(p.linkAt.Add(-24*time.Hour)) {
			early = append(early, e)
		} else {
			late = append(late, e)
		}
	}
	add("LINE Friend Added", "track", p.friendAt, map[string]string{"provider": LineProvider})
	years := g.now.Sub(p.friendAt).Hours() / (24 * 365)
	for range poisson(r, 3*years) {
		at := atHour(r, p.friendAt.Add(time.Duration(r.Float64()*float64(g.now.Sub(p.friendAt)))), order.ChannelOwnEC)
		if at.After(g.now) {
			continue
		}
		add(event.PageViewed, "page", at, map[string]string{
			"url": shopURL + "/lp/line-members", "title": "LINE友だち限定クーポン", "via": "line_richmenu"})
	}
	return early, late
}

// rawJSON encodes event properties: plain structs and string maps, which
// always encode.
func rawJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("demo: event properties %T: %v", v, err))
	}
	return b
}

// messageID returns an event id unique within the run (UUID-shaped: the run's
// random prefix and a counter).
func (g *generator) messageID() string {
	g.seq.event++
	return fmt.Sprintf("%s-%012x", g.msgPrefix, g.seq.event)
}

// anonymousID is the person's browser id; some use a second device.
func (g *generator) anonymousID(p *person) string {
	if p.anon == "" || chance(p.r, 0.15) {
		p.anon = hexID(p.r, 8) + "-" + hexID(p.r, 4) + "-4" + hexID(p.r, 3) + "-a" + hexID(p.r, 3) + "-" + hexID(p.r, 12)
	}
	return p.anon
}
