package store

import (
	"database/sql"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/customer"
)

// customerCols lists the customers columns in the order scanCustomer reads.
var customerCols = "id, status, merged_into, " + strings.Join(customer.FieldNames(), ", ") +
	", attributes, created_at, updated_at, order_count, total_spent, first_order_at, last_order_at"

// profileSet is "last_name = $2, first_name = $3, …" for updates starting at $start.
func profileSet(start int) string {
	names := customer.FieldNames()
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + " = $" + itoa(start+i)
	}
	return strings.Join(parts, ", ")
}

type rowScanner interface{ Scan(dest ...any) error }

func scanCustomer(r rowScanner) (*customer.Customer, error) {
	var (
		c                customer.Customer
		merged           sql.NullInt64
		attrs            []byte
		created, updated int64
		firstAt, lastAt  sql.NullInt64
		status           string
	)
	dest := []any{&c.ID, &status, &merged}
	dest = append(dest, c.Profile.Pointers()...)
	dest = append(dest, &attrs, &created, &updated, &c.OrderCount, &c.TotalSpent, &firstAt, &lastAt)
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	c.Status = customer.Status(status)
	c.MergedInto = merged.Int64
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	c.FirstOrderAt, c.LastOrderAt = fromNullMS(firstAt), fromNullMS(lastAt)
	c.Attributes = map[string]string{}
	if len(attrs) > 0 {
		_ = json.Unmarshal(attrs, &c.Attributes)
	}
	return &c, nil
}

func attrsJSON(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func itoa(n int) string {
	return strconv.Itoa(n)
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
