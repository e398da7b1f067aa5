// Package store is the only package that knows SQL. It defines what the rest
// of enishi may ask of storage (Store) and implements it once over
// database/sql for both backends; the sqlite and postgres subpackages open
// connections, embed their migrations and supply the few statements that
// differ (Dialect). One behaviour suite, storetest, runs against both.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/secret"
)

// Store is everything enishi asks of its database.
type Store interface {
	// Backend names the database: "sqlite" or "postgres".
	Backend() string
	Migrate(ctx context.Context) error
	Close() error

	// Imports and ingestion: each call is one transaction; records are
	// matched to customers (名寄せ) and upserted idempotently.
	ImportOrders(ctx context.Context, orders []order.Order) (BatchResult, error)
	ImportCustomers(ctx context.Context, recs []customer.Record) (BatchResult, error)
	ImportProducts(ctx context.Context, ps []product.Product) (BatchResult, error)
	ImportEvents(ctx context.Context, evs []event.Event) (BatchResult, error)
	StartImportRun(ctx context.Context, run ImportRun) (int64, error)
	FinishImportRun(ctx context.Context, run ImportRun) error

	// Customers.
	Customer(ctx context.Context, id int64) (*customer.Customer, error)
	CustomerView(ctx context.Context, id int64, opt ViewOptions) (*customer.View, error)
	SearchCustomers(ctx context.Context, q customer.Query) ([]customer.Summary, int, error)
	CustomerOrders(ctx context.Context, customerID int64, limit int) ([]order.Order, error)
	AddNote(ctx context.Context, customerID int64, author, body string) (int64, error)
	AddInquiry(ctx context.Context, inq customer.Inquiry) (int64, error)
	RecordConsent(ctx context.Context, customerID int64, c customer.Consent) error
	AddTags(ctx context.Context, customerID int64, tags []string) error

	// Identity resolution history.
	MergeCustomers(ctx context.Context, winner, loser int64, actor string) (int64, error)
	Unmerge(ctx context.Context, mergeID int64, actor string) error
	Merges(ctx context.Context, customerID int64) ([]customer.MergeRecord, error)
	MergeCandidates(ctx context.Context, status string, limit int) ([]customer.MergeCandidate, error)
	DecideMergeCandidate(ctx context.Context, id int64, approve bool, actor string) error

	// Catalogue.
	Product(ctx context.Context, sku string) (*product.Product, error)

	// Staff, sessions and API keys.
	CreateUser(ctx context.Context, u User) (int64, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	UserByID(ctx context.Context, id int64) (*User, error)
	ListUsers(ctx context.Context) ([]User, error)
	SetUserPassword(ctx context.Context, id int64, hash string) error
	CreateSession(ctx context.Context, s Session) error
	SessionByHash(ctx context.Context, tokenHash string) (*Session, error)
	TouchSession(ctx context.Context, tokenHash string, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
	DeleteUserSessions(ctx context.Context, userID int64) error
	CreateAPIKey(ctx context.Context, k APIKey) (int64, error)
	APIKeyByHash(ctx context.Context, keyHash string) (*APIKey, error)
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id int64) error
	TouchAPIKey(ctx context.Context, id int64, at time.Time) error

	// Real-time ingestion: the durable inbox and the integrations' tables.
	IngestStore
	// Segments, journeys, the outbox and campaigns: the engine that acts
	// on the data (docs/segments.md, docs/journeys.md, docs/campaigns.md).
	SegmentStore
	JourneyStore
	OutboxStore
	CampaignStore

	// Settings are small JSON or text values by key.
	Setting(ctx context.Context, key string) (string, bool, error)
	SetSetting(ctx context.Context, key, value string) error

	Stats(ctx context.Context) (Stats, error)

	ImportRunStore
	ChannelStore
	LoyaltyStore
	AnalyticsStore
	SecurityStore
	PrivacyStore
	RetentionStore
	SubscriptionStore
	ReviewStore
	SurveyStore
	InquiryStore
	VOCSegmentStore
}

// BatchResult counts what one import call did.
type BatchResult struct {
	Inserted     int `json:"inserted"`
	Updated      int `json:"updated"`
	Unchanged    int `json:"unchanged"`
	NewCustomers int `json:"new_customers"`
	Merges       int `json:"merges"`
	Candidates   int `json:"merge_candidates"`
	// Suppressed counts records that carried an erased person's identifier:
	// orders and customer records are filed under the erased customer
	// without personal data; events are not stored.
	Suppressed int `json:"suppressed"`
	// CustomerIDs lists, per input record, the customer it was filed under
	// (0 for records that name no customer, such as products).
	CustomerIDs []int64 `json:"-"`
}

// Add sums two results.
func (r *BatchResult) Add(o BatchResult) {
	r.Inserted += o.Inserted
	r.Updated += o.Updated
	r.Unchanged += o.Unchanged
	r.NewCustomers += o.NewCustomers
	r.Merges += o.Merges
	r.Candidates += o.Candidates
	r.Suppressed += o.Suppressed
}

// Stats are the headline counts (`enishi stats`).
type Stats struct {
	Customers int64 `json:"customers"` // people, after merges
	Orders    int64 `json:"orders"`    // paid, cancelled and refunded (and pending) orders
	LineItems int64 `json:"line_items"`
	Products  int64 `json:"products"`
	Events    int64 `json:"events"`
}

// ViewOptions shape a customer 360.
type ViewOptions struct {
	TimelineLimit  int    // default 50
	TimelineBefore string // cursor from a previous page
}

// ImportRun is the record of one import command.
type ImportRun struct {
	ID         int64
	Kind       string // customers | orders | products | events
	Format     string
	Source     string
	FileName   string
	Status     string // running | done | partial | failed
	RowsRead   int
	Imported   int
	Unchanged  int
	Rejected   int
	Actor      string
	Message    string
	StartedAt  time.Time
	FinishedAt time.Time
}

// User is a staff account.
type User struct {
	ID           int64      `json:"id"`
	Email        string     `json:"email"`
	Name         string     `json:"name"`
	Role         string     `json:"role"`
	PasswordHash string     `json:"-"`
	CreatedAt    time.Time  `json:"created_at"`
	DisabledAt   *time.Time `json:"disabled_at,omitempty"`
	// TOTPSecret is the sealed TOTP seed ("" without a second factor);
	// TOTPEnabled is true once a first code confirmed it.
	TOTPSecret   string `json:"-"`
	TOTPEnabled  bool   `json:"totp_enabled"`
	TOTPLastStep int64  `json:"-"`
}

// Session is a signed-in browser. Only the token's hash is stored.
type Session struct {
	TokenHash  string
	UserID     int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastSeenAt time.Time
	IP         string
	UserAgent  string
}

// APIKey is a key for an integration. Only its hash is stored; Prefix is the
// first characters, shown so people can tell keys apart.
type APIKey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	KeyHash    string     `json:"-"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// Dialect supplies what differs between the databases.
type Dialect interface {
	Name() string
	// NextIDs reserves n ids for table inside tx.
	NextIDs(ctx context.Context, tx *Tx, table string, n int) ([]int64, error)
	// LockResolution serialises transactions that match identities, so two
	// writers never create the same person twice. SQLite's write transactions
	// are already exclusive.
	LockResolution(ctx context.Context, tx *Tx) error
	// IsUniqueViolation reports whether err is a unique-constraint failure.
	IsUniqueViolation(err error) bool
	// MaxParams is the most bind parameters one statement may have.
	MaxParams() int
	// Migrations are the backend's embedded schema files, in migrations/.
	Migrations() embed.FS
	// LockMigrations keeps two processes from migrating at once.
	LockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// Rebind turns a statement written with $1, $2 … into the driver's form.
	Rebind(q string, args []any) (string, []any)
	// PrepareStatements says whether the store should keep prepared
	// statements for its bulk writes (the driver does not cache them).
	PrepareStatements() bool
	// SkipLocked ends a SELECT that claims queue rows for one worker, so
	// that workers in several processes never claim the same row: " FOR
	// UPDATE SKIP LOCKED" on PostgreSQL, "" on SQLite (one writer at a time).
	SkipLocked() string
	// InList returns a condition "col is one of vals" whose parameters start
	// at $start, and its arguments: "col IN ($3,$4,…)" for SQLite, one
	// array parameter "col = ANY($3)" for PostgreSQL (one plan, one bind).
	InList(col string, start int, vals []any) (string, []any)
	// Analyze refreshes the planner's statistics of tables that bulk writes
	// grew (PostgreSQL plans IN/ANY lookups from them: with none, a table
	// that grew from empty is scanned instead of searched).
	Analyze(ctx context.Context, db *DB, tables []string) error
	// CopyRows bulk-loads rows into table inside tx by the database's own
	// bulk path (PostgreSQL COPY); HasCopy says whether there is one.
	HasCopy() bool
	CopyRows(ctx context.Context, tx *Tx, table string, cols []string, rows [][]any) (int64, error)
	// JSONText returns an expression for the text value of a key of the
	// JSON object in column col; key is an SQL expression (a parameter)
	// holding a key of letters, digits, '_', '-' and '.'.
	JSONText(col, key string) string
}

// DB implements Store over database/sql. Writes go to Write; reads to Read,
// which for SQLite is a separate pool of read-only connections.
type DB struct {
	Write   *Pool
	Read    *Pool
	Dialect Dialect
	Clock   clock.Clock

	stmts     stmtCache
	connStmts connStmts
	idents    identCache
	skus      knownSKUs
	growth    growth
	tables    tablePresence
	wake      wakers
	box       *secret.Box // seals secrets; nil until SetSecretBox
}

// New returns a store over the given pools.
func New(write, read *sql.DB, d Dialect, c clock.Clock) *DB {
	if read == nil {
		read = write
	}
	if c == nil {
		c = clock.Real{}
	}
	return &DB{Write: &Pool{DB: write, d: d}, Read: &Pool{DB: read, d: d}, Dialect: d, Clock: c}
}

// Backend names the database.
func (db *DB) Backend() string { return db.Dialect.Name() }

// Close closes both pools.
func (db *DB) Close() error {
	db.connStmts.close()
	err := db.Write.Close()
	if db.Read.DB != db.Write.DB {
		err = errors.Join(err, db.Read.Close())
	}
	return err
}

// Tx is a write transaction with what the dialect needs to remember in it.
type Tx struct {
	*sql.Tx
	d Dialect
	// Seq holds the next free id per table for dialects that allocate ids
	// in memory within their exclusive transaction.
	Seq    map[string]int64
	stmts  map[string]*sql.Stmt
	conn   *sql.Conn
	named  []driver.NamedValue // execCached's argument buffer
	staged map[string]bool     // staging tables used in this transaction (they hold rows until it ends)
}

// Raw runs f with the transaction's driver connection (for bulk paths such
// as COPY); statements f runs are part of the transaction.
func (tx *Tx) Raw(f func(driverConn any) error) error { return tx.conn.Raw(f) }

// inTx runs fn in a write transaction, committing when it returns nil.
// A unique violation from a concurrent writer is retried a few times.
func (db *DB) inTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = db.tryTx(ctx, fn)
		if err == nil || !db.Dialect.IsUniqueViolation(err) || db.Dialect.Name() == "sqlite" {
			return err
		}
	}
	return err
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *Tx) error) error {
	conn, err := db.Write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	stx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: stx, d: db.Dialect, Seq: map[string]int64{}, conn: conn}
	if err := fn(tx); err != nil {
		_ = stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// ms converts a time to stored milliseconds.
func ms(t time.Time) int64 { return t.UnixMilli() }

// msPtr converts an optional time; the zero time is stored as NULL.
func msPtr(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMS converts stored milliseconds to a UTC time.
func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// fromNullMS converts a nullable column to an optional time.
func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

// placeholders returns "($s,$s+1,…),(…)" for rows of cols parameters
// starting at $start.
func placeholders(rows, cols, start int) string {
	var b strings.Builder
	n := start
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// list returns "$s,$s+1,…" for n parameters.
func list(n, start int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(start + i))
	}
	return b.String()
}

// InParams is the portable "col IN ($start, …)" form of Dialect.InList.
func InParams(col string, start int, vals []any) (string, []any) {
	if len(vals) == 0 {
		return "1 = 0", nil
	}
	return col + " IN (" + list(len(vals), start) + ")", vals
}

// chunk splits n items into runs that keep a statement under the dialect's
// parameter limit, calling fn with each [lo, hi).
func (db *DB) chunk(n, paramsPerItem int, fn func(lo, hi int) error) error {
	per := db.Dialect.MaxParams() / paramsPerItem
	if per > 1000 {
		per = 1000
	}
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		if err := fn(lo, hi); err != nil {
			return err
		}
	}
	return nil
}

// notFound wraps sql.ErrNoRows into a NotFound error naming what was missing.
func notFound(err error, what string, id any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return errs.Errorf(errs.NotFound, "%s %v not found", what, id)
	}
	return err
}

var _ Store = (*DB)(nil)
