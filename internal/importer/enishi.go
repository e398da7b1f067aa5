package importer

// The enishi format is our own canonical CSV: headers are the canonical field
// names (docs/formats.md), in any order; columns other than these and
// attr.NAME (customer attributes) are ignored.
func init() {
	f := &Format{Name: "enishi", Title: "enishi canonical CSV", Encoding: EncUTF8, Layouts: map[Kind]*Layout{}}
	for k, names := range canonicalNames {
		l := &Layout{Columns: map[Field][]string{}}
		for field, name := range names {
			l.Columns[field] = []string{name}
		}
		switch k {
		case Orders:
			l.Signature = []string{"order_id", "ordered_at"}
		case Customers:
			l.Signature = []string{"customer_id"}
		case Products:
			l.Signature = []string{"sku"}
		case Events:
			l.Signature = []string{"event", "occurred_at"}
		case Subscriptions:
			l.Signature = []string{"subscription_id", "cycle"}
		case Reviews:
			l.Signature = []string{"rating", "reviewed_at"}
		}
		f.Layouts[k] = l
	}
	register(f)
}
