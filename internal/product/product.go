// Package product holds the shop's catalogue as enishi needs it: names and
// categories for reports, prices, and the replenishment cycle (リピート周期)
// that timing of reminders is based on.
package product

import "time"

// Product is one item sold, identified by its SKU (商品コード).
type Product struct {
	ID       int64  `json:"id"`
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	Category string `json:"category"`
	Price    int64  `json:"price"`
	// ReplenishmentDays is how long one unit lasts (e.g. 30 for a monthly
	// supplement); 0 when the product is not consumable or unknown.
	ReplenishmentDays int       `json:"replenishment_days"`
	URL               string    `json:"url"`
	ImageURL          string    `json:"image_url"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}
