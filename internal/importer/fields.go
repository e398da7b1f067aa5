package importer

// Kind is what a file holds.
type Kind string

// Kinds of import.
const (
	Customers Kind = "customers"
	Orders    Kind = "orders"
	Products  Kind = "products"
	Events    Kind = "events"
	// Subscriptions are subscription contracts (定期契約) as a cart exports
	// them; Reviews are product reviews.
	Subscriptions Kind = "subscriptions"
	Reviews       Kind = "reviews"
)

// ParseKind validates a kind name.
func ParseKind(s string) (Kind, bool) {
	switch k := Kind(s); k {
	case Customers, Orders, Products, Events, Subscriptions, Reviews:
		return k, true
	}
	return "", false
}

// Field is a canonical field: what a column means, whatever its header says.
type Field int

// Canonical fields. Their names (fieldNames) are the enishi format's headers.
const (
	// The person (every kind but products).
	FCustomerID Field = iota
	FEmail
	FPhone
	FName
	FLastName
	FFirstName
	FNameKana
	FLastNameKana
	FFirstNameKana
	FBirthday
	FGender
	FPostalCode
	FPrefecture
	FCity
	FAddress1
	FAddress2
	FCustomerCreatedAt
	FEmailOptIn
	FSMSOptIn
	FLineOptIn
	FDMOptIn
	FPushOptIn
	FConsentAt
	FConsentWording
	FTags
	FLineUserID
	FAcqChannel
	FAcqSource
	FAcqMedium
	FAcqCampaign
	FAcqReferrer
	// Orders.
	FOrderID
	FOrderedAt
	FStatus
	FChannel
	FShopID
	FCurrency
	FTotal
	FDiscount
	FShipping
	FTax
	FPointsUsed
	FCouponCode
	// Order lines.
	FSKU
	FProductName
	FCategory
	FQuantity
	FUnitPrice
	FAmount
	// Products.
	FPrice
	FReplenishmentDays
	FURL
	FImageURL
	// Events.
	FEventID
	FEventType
	FEventName
	FOccurredAt
	FAnonymousID
	FProperties
	// Subscriptions (and, on orders, the subscription an order delivers).
	FSubscriptionID
	FDeliveryNumber
	FPlan
	FCycle
	FStartedAt
	FNextDeliveryAt
	FDeliveries
	FSkips
	FCancelledAt
	FCancelReason
	FUpdatedAt
	// Reviews.
	FReviewID
	FRating
	FTitle
	FBody
	FReviewerName
	FReviewedAt
	numFields
)

// personFields are the customer columns every person-bearing kind accepts,
// under their canonical names.
var personFields = map[Field]string{
	FCustomerID: "customer_id", FEmail: "email", FPhone: "phone", FName: "name",
	FLastName: "last_name", FFirstName: "first_name", FNameKana: "name_kana",
	FLastNameKana: "last_name_kana", FFirstNameKana: "first_name_kana",
	FBirthday: "birthday", FGender: "gender", FPostalCode: "postal_code", FPrefecture: "prefecture",
	FCity: "city", FAddress1: "address1", FAddress2: "address2",
	FEmailOptIn: "email_opt_in", FSMSOptIn: "sms_opt_in", FLineOptIn: "line_opt_in", FDMOptIn: "dm_opt_in", FPushOptIn: "push_opt_in",
	FConsentAt: "consent_at", FConsentWording: "consent_wording", FTags: "tags", FLineUserID: "line_user_id",
	FAcqChannel: "acq_channel", FAcqSource: "acq_source", FAcqMedium: "acq_medium", FAcqCampaign: "acq_campaign", FAcqReferrer: "acq_referrer",
}

// canonicalNames gives, per kind, the enishi format's header for each field.
var canonicalNames = map[Kind]map[Field]string{
	Customers: with(personFields, map[Field]string{FCustomerCreatedAt: "created_at"}),
	Orders: with(personFields, map[Field]string{
		FOrderID: "order_id", FOrderedAt: "ordered_at", FStatus: "status", FChannel: "channel", FShopID: "shop_id",
		FCurrency: "currency", FTotal: "total", FDiscount: "discount", FShipping: "shipping", FTax: "tax",
		FPointsUsed: "points_used", FCouponCode: "coupon_code",
		FSKU: "sku", FProductName: "product_name", FCategory: "category", FQuantity: "quantity", FUnitPrice: "unit_price", FAmount: "amount",
		FSubscriptionID: "subscription_id", FDeliveryNumber: "delivery_number",
	}),
	Products: {
		FSKU: "sku", FProductName: "name", FCategory: "category", FPrice: "price",
		FReplenishmentDays: "replenishment_days", FURL: "url", FImageURL: "image_url",
	},
	Events: with(personFields, map[Field]string{
		FEventID: "event_id", FEventType: "type", FEventName: "event", FOccurredAt: "occurred_at",
		FAnonymousID: "anonymous_id", FSKU: "sku", FURL: "url", FProperties: "properties",
	}),
	Subscriptions: with(personFields, map[Field]string{
		FSubscriptionID: "subscription_id", FSKU: "sku", FProductName: "product_name", FPlan: "plan", FCycle: "cycle",
		FQuantity: "quantity", FPrice: "price", FStatus: "status", FStartedAt: "started_at", FNextDeliveryAt: "next_delivery_at",
		FDeliveries: "deliveries", FSkips: "skips", FCancelledAt: "cancelled_at", FCancelReason: "cancel_reason", FUpdatedAt: "updated_at",
	}),
	Reviews: with(personFields, map[Field]string{
		FReviewID: "review_id", FSKU: "sku", FProductName: "product_name", FRating: "rating", FTitle: "title", FBody: "body",
		FReviewerName: "reviewer_name", FReviewedAt: "reviewed_at",
	}),
}

// with returns base and extra merged into a new map (extra wins).
func with[V any](base, extra map[Field]V) map[Field]V {
	m := make(map[Field]V, len(base)+len(extra))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// FieldByName returns the field a canonical header names for a kind.
func FieldByName(k Kind, name string) (Field, bool) {
	for f, n := range canonicalNames[k] {
		if n == name {
			return f, true
		}
	}
	return 0, false
}

// FieldName returns a field's canonical header for a kind.
func FieldName(k Kind, f Field) string { return canonicalNames[k][f] }
