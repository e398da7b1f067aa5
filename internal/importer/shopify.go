package importer

import (
	"errors"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/jtext"
	"github.com/enishi-crm/enishi/internal/order"
)

// Shopify admin CSV exports (注文 > エクスポート, 顧客 > エクスポート), UTF-8.
//
// The orders export has one row per line item. Only the first row of an
// order carries the order-level columns (status, totals, billing address,
// Accepts Marketing); later rows repeat Name, Email and Created at, and the
// importer lets them inherit the rest.
func init() {
	register(&Format{
		Name:     "shopify",
		Title:    "Shopify admin export",
		Encoding: EncUTF8,
		Layouts: map[Kind]*Layout{
			Orders: {
				// status comes from Financial Status and Cancelled at, channel
				// from Source, consent_at from Created at (see the Transform).
				// The export has no customer id, and its Tags describe the
				// order, not the person, so neither is read.
				Columns: map[Field][]string{
					FOrderID:     {"Name"},
					FEmail:       {"Email"},
					FPhone:       {"Phone", "Billing Phone"},
					FName:        {"Billing Name"},
					FPostalCode:  {"Billing Zip"},
					FCity:        {"Billing City"},
					FAddress1:    {"Billing Address1", "Billing Street"},
					FAddress2:    {"Billing Address2"},
					FEmailOptIn:  {"Accepts Marketing"},
					FOrderedAt:   {"Created at"},
					FCurrency:    {"Currency"},
					FTotal:       {"Total"},
					FDiscount:    {"Discount Amount"},
					FShipping:    {"Shipping"},
					FTax:         {"Taxes"},
					FCouponCode:  {"Discount Code"},
					FSKU:         {"Lineitem sku"},
					FProductName: {"Lineitem name"},
					FQuantity:    {"Lineitem quantity"},
					FUnitPrice:   {"Lineitem price"},
					FPrefecture:  {"Billing Province Name", "Billing Province"},
				},
				Signature: []string{"Name", "Financial Status", "Lineitem name"},
				Channel:   order.ChannelOwnEC,
				Source:    "shopify",
				Transform: shopifyOrderRow,
			},
			Customers: {
				Columns: map[Field][]string{
					FCustomerID: {"Customer ID"},
					FFirstName:  {"First Name"},
					FLastName:   {"Last Name"},
					FEmail:      {"Email"},
					FPhone:      {"Phone", "Default Address Phone"},
					FEmailOptIn: {"Accepts Email Marketing", "Accepts Marketing"},
					FSMSOptIn:   {"Accepts SMS Marketing"},
					FPostalCode: {"Default Address Zip", "Zip"},
					FPrefecture: {"Default Address Province Code", "Province Code", "Province"},
					FCity:       {"Default Address City", "City"},
					FAddress1:   {"Default Address Address1", "Address1"},
					FAddress2:   {"Default Address Address2", "Address2"},
					FTags:       {"Tags"},
				},
				Signature: []string{"First Name", "Last Name", "Total Orders"},
				Source:    "shopify",
				Transform: shopifyCustomerRow,
			},
		},
	})
}

// shopifyStatuses maps Financial Status. A partially refunded order still
// counts, for what was kept (the Transform nets the refund off its total);
// an authorization that was voided or expired never became a sale.
var shopifyStatuses = newCodeTable("status", "shopify", map[string]string{
	"paid":               string(order.Paid),
	"partially_paid":     string(order.Paid),
	"partially_refunded": string(order.Paid),
	"pending":            string(order.Pending),
	"authorized":         string(order.Pending),
	"refunded":           string(order.Refunded),
	"voided":             string(order.Cancelled),
	"expired":            string(order.Cancelled),
})

func shopifyOrderRow(r *Row) error {
	var problems []error
	shopifyPerson(r, []string{"Billing Country"}, []string{"Billing Province", "Billing Province Name"}, "Billing Phone")
	if last, first, ok := shopifyName(r.Col("Billing Name")); ok {
		r.Set(FLastName, last)
		r.Set(FFirstName, first)
	}
	// Accepts Marketing is the buyer's choice at checkout: date it then.
	if r.Get(FEmailOptIn) != "" {
		r.Set(FConsentAt, r.Get(FOrderedAt))
	}
	if strings.EqualFold(r.Col("Source"), "pos") {
		r.Set(FChannel, order.ChannelPOS)
	}

	// Status only on the order's first row; later rows inherit it.
	financial, cancelled := r.Col("Financial Status"), r.Col("Cancelled at") != ""
	var status string
	if financial != "" {
		st, err := shopifyStatuses.lookup("Financial Status", financial)
		if err != nil && !cancelled {
			problems = append(problems, err)
		}
		status = st
	}
	if cancelled {
		status = string(order.Cancelled)
	}
	if status != "" {
		r.Set(FStatus, status)
	}
	if status == string(order.Paid) && r.Col("Refunded Amount") != "" && r.Col("Total") != "" {
		total, err1 := yenOf(r, FTotal, "Total")
		refunded, err2 := yenOf(r, FTotal, "Refunded Amount")
		if err := errors.Join(err1, err2); err != nil {
			problems = append(problems, err)
		} else if refunded > 0 {
			r.Set(FTotal, strconv.FormatInt(total-refunded, 10))
		}
	}
	return errors.Join(problems...)
}

func shopifyCustomerRow(r *Row) error {
	shopifyPerson(r, []string{"Default Address Country Code", "Country Code", "Country"},
		[]string{"Default Address Province Code", "Province Code", "Province"}, "Default Address Phone")
	// Shopify separates tags with commas; enishi's tag lists use ";".
	if v := r.Get(FTags); v != "" {
		var tags []string
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				tags = append(tags, t)
			}
		}
		r.Set(FTags, strings.Join(tags, ";"))
	}
	return nil
}

// shopifyPerson fixes what both exports share: the apostrophe Shopify puts
// before ids, phone numbers and postal codes to keep spreadsheets from
// reading them as numbers; provinces written in Latin letters or as ISO
// codes (JP-13); a phone found only on the address; and addresses abroad,
// which have no 都道府県 or Japanese postal code to check.
func shopifyPerson(r *Row, countryCols, provinceCols []string, phoneFallback string) {
	for _, f := range []Field{FCustomerID, FPhone, FPostalCode} {
		if v := r.Get(f); strings.HasPrefix(v, "'") {
			r.Set(f, strings.TrimPrefix(v, "'"))
		}
	}
	if r.Get(FPhone) == "" {
		if v := strings.TrimPrefix(r.Col(phoneFallback), "'"); v != "" {
			r.Set(FPhone, v)
		}
	}
	if country := firstCol(r, countryCols...); country != "" && !isJapan(country) {
		r.Set(FPrefecture, "")
		r.Set(FPostalCode, "")
		return
	}
	for _, c := range provinceCols {
		if v := r.Col(c); v != "" {
			if p, ok := customer.PrefectureFromLatin(v); ok {
				r.Set(FPrefecture, p)
			} else {
				r.Set(FPrefecture, v) // Japanese, or an error from the normalizer
			}
			return
		}
	}
}

func isJapan(country string) bool {
	switch strings.ToLower(strings.TrimSpace(jtext.NFKC(country))) {
	case "jp", "jpn", "japan", "日本", "日本国":
		return true
	}
	return false
}

// shopifyName splits a billing name. Shopify writes an address's name as
// first name, space, last name ("太郎 山田"), whatever the checkout showed,
// so the last word is the family name (姓).
func shopifyName(s string) (last, first string, ok bool) {
	s = jtext.Clean(s)
	i := strings.LastIndexByte(s, ' ')
	if i <= 0 {
		return "", "", false
	}
	return s[i+1:], s[:i], true
}
