package demo

import (
	"fmt"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/identity"
	"github.com/enishi-crm/enishi/internal/order"
)

// wording names the version of a consent text in force at a time: the shop
// revised its wording once, half-way through the history.
func (g *generator) wording(channel string, at time.Time) string {
	v := 1
	if at.After(g.start.Add(g.now.Sub(g.start) / 2)) {
		v = 2
	}
	return fmt.Sprintf("%s-v%d", channel, v)
}

// masters are the customer-master records the person's sign-ups produce:
// the own EC's member account and the store's member card, each as that
// system knows them.
func (g *generator) masters(p *person) []customer.Record {
	r := p.r
	var recs []customer.Record
	if p.shopifyID != "" {
		rec := customer.Record{Overwrite: true, SeenAt: p.accountAt,
			Identifiers: []identity.Identifier{identity.ExternalID(SourceShopify, p.shopifyID), {Kind: identity.Email, Value: p.email}},
			Profile:     p.profile(),
			Attributes:  map[string]string{"member_rank": memberRank(p)},
		}
		if p.accountPhone {
			rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Phone, Value: p.phone})
		} else {
			rec.Profile.Phone = ""
		}
		if p.home == order.ChannelOwnEC {
			p.firstTouch(&rec.Profile)
		}
		form := func(ch string, granted bool) customer.Consent {
			return customer.Consent{Channel: ch, Granted: granted, RecordedAt: p.accountAt, Method: "form",
				Source: shopURL + "/account/register", WordingVersion: g.wording(ch, p.accountAt)}
		}
		emailOK := chance(r, 0.74)
		rec.Consents = append(rec.Consents, form(customer.ChannelEmail, emailOK))
		if p.accountPhone {
			rec.Consents = append(rec.Consents, form(customer.ChannelSMS, chance(r, 0.25)))
		}
		rec.Consents = append(rec.Consents, form(customer.ChannelDM, chance(r, 0.3)))
		if emailOK && chance(r, 0.07) {
			at := p.accountAt.Add(time.Duration(r.Float64() * float64(g.now.Sub(p.accountAt)))).Truncate(time.Second)
			rec.Consents = append(rec.Consents, customer.Consent{Channel: customer.ChannelEmail, Granted: false, RecordedAt: at,
				Method: "unsubscribe", Source: "mail:footer-link", WordingVersion: g.wording(customer.ChannelEmail, at)})
		}
		if p.lineID != "" && !p.lineEarly() {
			// The LINE linking app writes the user id into the member
			// record, so the export carries it.
			rec.Identifiers = append(rec.Identifiers, lineID(p.lineID))
			rec.Consents = append(rec.Consents, g.lineConsent(p))
			rec.Tags = append(rec.Tags, "LINE連携")
		}
		if len(p.orders) >= 2 {
			rec.Tags = append(rec.Tags, "リピーター")
		}
		recs = append(recs, rec)
	}
	if p.posCard != "" {
		// The paper sign-up form at the till.
		pr := p.profile()
		pr.Email = ""
		rec := customer.Record{Overwrite: true, SeenAt: p.cardAt,
			Identifiers: []identity.Identifier{identity.ExternalID(SourcePOS, p.posCard)},
			Profile:     pr,
		}
		if p.phone != "" {
			rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Phone, Value: p.phone})
		}
		if p.home == order.ChannelPOS {
			p.firstTouch(&rec.Profile)
		}
		paper := func(ch string, granted bool) customer.Consent {
			return customer.Consent{Channel: ch, Granted: granted, RecordedAt: p.cardAt, Method: "paper_form",
				Source: "store:" + p.shop.name, WordingVersion: g.wording(ch, p.cardAt)}
		}
		if p.cardEmail {
			rec.Identifiers = append(rec.Identifiers, identity.Identifier{Kind: identity.Email, Value: p.email})
			rec.Profile.Email = p.email
			rec.Consents = append(rec.Consents, paper(customer.ChannelEmail, chance(r, 0.7)))
		}
		rec.Consents = append(rec.Consents, paper(customer.ChannelDM, chance(r, 0.55)))
		rec.Tags = append(rec.Tags, "店舗会員")
		recs = append(recs, rec)
	}
	return recs
}

// laterRecords are what happens to a member after sign-up and must be
// written after their early LINE events: linking their LINE account
// (ID連携), which merges the customer those events created with the member.
func (g *generator) laterRecords(p *person) []customer.Record {
	if p.lineID == "" || !p.lineEarly() {
		return nil
	}
	return []customer.Record{{SeenAt: p.linkAt,
		Identifiers: []identity.Identifier{identity.ExternalID(SourceShopify, p.shopifyID), lineID(p.lineID)},
		Consents:    []customer.Consent{g.lineConsent(p)},
		Tags:        []string{"LINE連携"},
	}}
}

// lineConsent is the opt-in given when linking the LINE account.
func (g *generator) lineConsent(p *person) customer.Consent {
	return customer.Consent{Channel: customer.ChannelLine, Granted: true, RecordedAt: p.linkAt, Method: "line_link",
		Source: "line:" + LineProvider, WordingVersion: g.wording(customer.ChannelLine, p.linkAt)}
}

func lineID(v string) identity.Identifier {
	return identity.Identifier{Kind: identity.Line, Source: LineProvider, Value: v}
}
