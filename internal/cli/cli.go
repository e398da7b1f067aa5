// Package cli implements the enishi command: one file per command, flags,
// exit codes and terminal output. Business logic lives elsewhere.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/postgres"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // a fatal error; for imports, nothing was written
	ExitUsage   = 2
	ExitPartial = 3 // an import wrote the good rows and rejected others
)

// IO is where a command reads and writes; tests substitute buffers.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTerminal reports whether Stderr is an interactive terminal.
	IsTerminal bool
	// Clock overrides the real clock (tests).
	Clock clock.Clock
	// Ready, if set, receives the server's address once it listens (tests).
	Ready func(addr string)
	// Context, if set, replaces the signal-cancelled context (tests).
	Context context.Context
	// Resolver, if set, replaces the system's DNS resolver (tests of
	// `email check-domain`).
	Resolver interface {
		LookupTXT(ctx context.Context, name string) ([]string, error)
	}
}

// StdIO is the process's own standard streams and environment.
func StdIO() IO {
	return IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal(os.Stderr)}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// commands is the table of subcommands; each lives in its own file.
func commands() []command {
	return []command{
		{"serve", "run the web UI and API", cmdServe},
		{"migrate", "apply database migrations", cmdMigrate},
		{"import", "import customers, orders, products, events, subscriptions or reviews from a file", cmdImport},
		{"stats", "print headline counts", cmdStats},
		{"customer", "show, search, merge and unmerge customers", cmdCustomer},
		{"demo", "fill the database with generated demo data", cmdDemo},
		{"user", "manage staff accounts", cmdUser},
		{"apikey", "manage API keys", cmdAPIKey},
		{"settings", "read and change settings", cmdSettings},
		{"sync", "backfill customers, orders and products from Shopify's Admin API", cmdSync},
		{"email", "DKIM key, DNS records, domain check, bounce intake", cmdEmail},
		{"template", "list, check, save and preview message templates", cmdTemplate},
		{"message", "send, test, stats, suppressions, DM export, attribution", cmdMessage},
		{"points", "points balances, adjustments, redemptions, imports and liability", cmdPoints},
		{"coupon", "coupon campaigns, codes, issues and Shopify sync", cmdCoupon},
		{"rank", "evaluate member ranks, rank history and reports", cmdRank},
		{"loyalty", "show or set the loyalty programme; run the daily work", cmdLoyalty},
		{"report", "analytics reports: rfm, cpm, decile, cohort, kpi, basket, predict …", cmdReport},
		{"scores", "refresh stored customer scores; show a customer's scores and recommendations", cmdScores},
		{"segment", "create, count, preview and export segments", cmdSegment},
		{"journey", "list, show, create, enable and disable journeys (シナリオ)", cmdJourney},
		{"campaign", "create, schedule, pause, resume and cancel campaigns (一斉配信)", cmdCampaign},
		{"engine", "run segments, journeys, campaigns and sends without the web server", cmdEngine},
		{"role", "manage custom staff roles", cmdRole},
		{"audit", "list and export the audit log", cmdAudit},
		{"secret", "manage encrypted secrets (SMTP, LINE, Shopify …)", cmdSecret},
		{"retention", "show or apply data retention periods", cmdRetention},
		{"backup", "copy the SQLite database to a file while it runs", cmdBackup},
		{"restore", "replace the SQLite database with a backup", cmdRestore},
		{"subscriptions", "定期購入: list and show contracts, trigger queries, cancellation risk, apply events", cmdSubscriptions},
		{"survey", "アンケート: create, open and close surveys, results, CSV export, customers' links", cmdSurvey},
		{"inquiry", "問い合わせ: list, assign, reply to and tag inquiries; campaign exclusion setting", cmdInquiry},
		{"reviews", "レビュー: list product reviews", cmdReviews},
	}
}

// Env is what every command gets.
type Env struct {
	IO
	Log *slog.Logger
}

// Run runs the enishi command line and returns the process exit code.
func Run(args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = func(string) string { return "" }
	}
	args, getenv, err := withConfigFile(args, io.Getenv)
	if err != nil {
		fmt.Fprintln(io.Stderr, "enishi:", err)
		return ExitUsage
	}
	io.Getenv = getenv
	env := &Env{IO: io, Log: slog.New(slog.NewTextHandler(io.Stderr, &slog.HandlerOptions{Level: logLevel(io.Getenv("ENISHI_LOG_LEVEL"))}))}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(io.Stdout)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(io.Stdout, "enishi", Version)
		return ExitOK
	}
	ctx := io.Context
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	if path := io.Getenv("ENISHI_CPUPROFILE"); path != "" {
		if stop, err := startCPUProfile(path); err == nil {
			defer stop()
		}
	}
	actor := "cli"
	if u := io.Getenv("USER"); u != "" {
		actor = "cli:" + u
	}
	ctx = store.WithOrigin(ctx, store.Origin{Actor: actor, Source: "cli"})
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, env, args[1:])
		return exitCode(env, err)
	}
	fmt.Fprintf(io.Stderr, "enishi: unknown command %q\n\n", args[0])
	usage(io.Stderr)
	return ExitUsage
}

// Version is set at build time (-ldflags "-X …cli.Version=…").
var Version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "enishi — CRM for Japanese EC and D2C shops\n\nUsage: enishi COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `enishi COMMAND -h` for a command's flags. Database: --db PATH (SQLite, default ./enishi.db)\nor --database-url postgres://… (also ENISHI_DB, ENISHI_DATABASE_URL). Settings can also come\nfrom a file: enishi --config FILE COMMAND (or ENISHI_CONFIG). Docs: docs/cli.md, docs/operations.md")
}

// usageError is a mistake on the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// partialError reports an import that rejected rows (exit code 3).
type partialError struct{ msg string }

func (e partialError) Error() string { return e.msg }

func exitCode(env *Env, err error) int {
	if err == nil {
		return ExitOK
	}
	var ue usageError
	var pe partialError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(env.Stderr, "enishi:", err)
		return ExitUsage
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &pe):
		return ExitPartial
	}
	if errs.Code(err) == errs.Internal {
		fmt.Fprintln(env.Stderr, "enishi:", err)
	} else {
		fmt.Fprintln(env.Stderr, "enishi:", errs.Message(err))
	}
	return ExitFailure
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// newFlags makes a flag set that writes its help to stderr.
func newFlags(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: enishi %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// dbFlags are the database flags every command that needs the store takes.
type dbFlags struct {
	path string
	url  string
}

func addDBFlags(fs *flag.FlagSet, env *Env) *dbFlags {
	d := &dbFlags{}
	def := env.Getenv("ENISHI_DB")
	if def == "" {
		def = "enishi.db"
	}
	fs.StringVar(&d.path, "db", def, "SQLite database file (env ENISHI_DB)")
	fs.StringVar(&d.url, "database-url", env.Getenv("ENISHI_DATABASE_URL"), "PostgreSQL URL, postgres://… (env ENISHI_DATABASE_URL); overrides --db")
	return d
}

// open opens and migrates the store the flags name.
func (d *dbFlags) open(ctx context.Context, env *Env, c clock.Clock) (*store.DB, error) {
	if c == nil {
		c = env.Clock
	}
	if c == nil {
		c = clock.Real{}
	}
	var db *store.DB
	var err error
	if d.url != "" {
		db, err = postgres.Open(ctx, d.url, c)
	} else {
		db, err = sqlite.Open(d.path, c)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	box, err := secret.FromEnv(env.Getenv)
	if err != nil {
		db.Close()
		return nil, err
	}
	db.SetSecretBox(box)
	if n, err := db.MovePlaintextSecrets(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("encrypt secrets kept in settings: %w", err)
	} else if n > 0 {
		env.Log.Info("encrypted secrets that were kept in settings", "count", n)
	}
	return db, nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func logLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
