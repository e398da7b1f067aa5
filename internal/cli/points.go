package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/importer"
	"github.com/enishi-crm/enishi/internal/loyalty"
)

const pointsSynopsis = `points balance CUSTOMER_ID [--json]
       enishi points history CUSTOMER_ID [--limit N] [--json]
       enishi points adjust CUSTOMER_ID POINTS --reason TEXT [--expires YYYY-MM-DD] [--key KEY]
       enishi points redeem CUSTOMER_ID POINTS --key KEY [--order-ref REF]
       enishi points import FILE [--batch NAME] [--encoding auto] [--dry-run] [--errors FILE]
       enishi points expire
       enishi points expiring [--days N]
       enishi points liability [--json]`

var negativeNumber = regexp.MustCompile(`^-[0-9][0-9,]*$`)

// protectNegatives keeps "-500" from being read as a flag; unprotect
// turns it back after parsing.
func protectNegatives(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if negativeNumber.MatchString(a) {
			a = "neg:" + a[1:]
		}
		out[i] = a
	}
	return out
}

func unprotect(a string) string {
	if rest, ok := strings.CutPrefix(a, "neg:"); ok {
		return "-" + rest
	}
	return a
}

func parseInt64(s, what string) (int64, error) {
	n, err := strconv.ParseInt(strings.ReplaceAll(unprotect(s), ",", ""), 10, 64)
	if err != nil {
		return 0, usagef("%q is not %s", s, what)
	}
	return n, nil
}

func cmdPoints(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", pointsSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "points", pointsSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	limit := fs.Int("limit", 50, "entries to list")
	reason := fs.String("reason", "", "why points are adjusted (required for adjust)")
	expires := fs.String("expires", "", "last day given points can be used (YYYY-MM-DD); default: the programme's expiry")
	key := fs.String("key", "", "idempotency key: the same key never applies twice")
	orderRef := fs.String("order-ref", "", "the shop's order or cart number, for reference")
	batch := fs.String("batch", "", "name of the balance import (default: the file name); the same name never imports a row twice")
	encoding := fs.String("encoding", "auto", "auto, utf-8, shift_jis, cp932 or euc-jp")
	dryRun := fs.Bool("dry-run", false, "check the file, write nothing")
	errorsPath := fs.String("errors", "", "where to write rejected rows (default: FILE.errors.csv)")
	days := fs.Int("days", 30, "how many days ahead expiring lists look")
	actor := fs.String("actor", "cli", "who is acting, for the ledger")
	pos, err := parse(fs, protectNegatives(args[1:]))
	if err != nil {
		return err
	}
	need := map[string]int{"balance": 1, "history": 1, "adjust": 2, "redeem": 2, "import": 1, "expire": 0, "expiring": 0, "liability": 0}
	if n, ok := need[sub]; !ok {
		return usagef("unknown points subcommand %q", sub)
	} else if len(pos) != n {
		return usagef("usage: enishi %s", pointsSynopsis)
	}
	var id int64
	if sub != "import" && len(pos) > 0 {
		if id, err = parseInt64(pos[0], "a customer id"); err != nil {
			return err
		}
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "balance":
		b, err := st.PointsBalance(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, b)
		}
		fmt.Fprintf(env.Stdout, "customer %d: %s points\n", b.CustomerID, group(int(b.Points)))
		for _, e := range b.Expiring {
			fmt.Fprintf(env.Stdout, "  %s points valid through %s\n", group(int(e.Points)), e.ValidThrough)
		}
		for _, l := range b.Lots {
			if l.ExpiresAt == nil {
				fmt.Fprintf(env.Stdout, "  %s points (%s %s) never expire\n", group(int(l.Remaining)), l.Kind, day(l.EarnedAt))
			}
		}
	case "history":
		es, err := st.PointsHistory(ctx, id, *limit, 0)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, es)
		}
		for _, e := range es {
			ref := e.Reason
			if e.OrderID != 0 {
				ref = strings.TrimSpace(fmt.Sprintf("order %d %s", e.OrderID, ref))
			}
			fmt.Fprintf(env.Stdout, "%s  %-13s %+8d  lot %d  %s\n", e.At.In(clock.Tokyo).Format("2006-01-02 15:04"), e.Kind, e.Points, e.LotID, ref)
		}
	case "adjust":
		pts, err := parseInt64(pos[1], "a number of points")
		if err != nil {
			return err
		}
		a := loyalty.Adjustment{CustomerID: id, Points: pts, Reason: *reason, Key: *key, Actor: *actor}
		if *expires != "" {
			d, err := loyalty.ParseDay(*expires)
			if err != nil {
				return err
			}
			e := d.End().UTC()
			a.ExpiresAt = &e
		}
		res, err := st.AdjustPoints(ctx, a)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, res)
		}
		verb := "adjusted"
		if res.Replayed {
			verb = "already adjusted (same key)"
		}
		fmt.Fprintf(env.Stdout, "%s customer %d by %+d points; balance %s\n", verb, res.CustomerID, res.Points, group(int(res.Balance)))
	case "redeem":
		pts, err := parseInt64(pos[1], "a number of points")
		if err != nil {
			return err
		}
		red, err := st.RedeemPoints(ctx, loyalty.RedeemRequest{CustomerID: id, Points: pts, IdempotencyKey: *key, OrderRef: *orderRef, Actor: *actor})
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, red)
		}
		fmt.Fprintf(env.Stdout, "redeemed %s points for customer %d (key %s, replayed %v); balance %s\n", group(int(red.Points)), red.CustomerID, red.IdempotencyKey, red.Replayed, group(int(red.Balance)))
	case "import":
		return importPoints(ctx, env, st, pos[0], *batch, *encoding, *errorsPath, *dryRun, *asJSON)
	case "expire":
		res, err := st.ExpirePoints(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, res)
		}
		fmt.Fprintf(env.Stdout, "expired %s points in %d lots of %d customers; %d expiring-soon triggers\n", group(int(res.Points)), res.Lots, res.Customers, res.ExpiringSoonEvents)
	case "expiring":
		list, err := st.ExpiringPoints(ctx, *days)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, e := range list {
			fmt.Fprintf(env.Stdout, "%d\t%s points\tvalid through %s\n", e.CustomerID, group(int(e.Points)), e.ValidThrough)
		}
		fmt.Fprintf(env.Stdout, "%d customers have points lapsing within %d days\n", countCustomers(list), *days)
	case "liability":
		l, err := st.PointsLiability(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, l)
		}
		printLiability(env.Stdout, l)
	}
	return nil
}

func countCustomers(list []loyalty.CustomerExpiring) int {
	seen := map[int64]bool{}
	for _, e := range list {
		seen[e.CustomerID] = true
	}
	return len(seen)
}

func day(t time.Time) string { return t.In(clock.Tokyo).Format("2006-01-02") }

func printLiability(w io.Writer, l *loyalty.Liability) {
	fmt.Fprintf(w, "ポイント残高 (outstanding) %s points held by %s customers, as of %s\n", group(int(l.Outstanding)), group(int(l.Customers)), l.AsOf.In(clock.Tokyo).Format("2006-01-02 15:04"))
	fmt.Fprintln(w, "expected expiry by month:")
	for _, m := range l.ByMonth {
		fmt.Fprintf(w, "  %s  %12s\n", m.Month, group(int(m.Points)))
	}
	if l.NeverExpire > 0 {
		fmt.Fprintf(w, "  never    %12s\n", group(int(l.NeverExpire)))
	}
	if len(l.Flows) > 0 {
		fmt.Fprintln(w, "last 30 days:")
		for _, f := range l.Flows {
			fmt.Fprintf(w, "  %-13s %+12d\n", f.Kind, f.Points)
		}
	}
	if l.Unrecovered > 0 {
		fmt.Fprintf(w, "points of cancelled orders already spent (not recovered): %s\n", group(int(l.Unrecovered)))
	}
}

func importPoints(ctx context.Context, env *Env, st interface {
	ImportPointBalances(context.Context, string, []loyalty.BalanceRow, bool) (loyalty.BalanceImportResult, error)
}, path, batch, encoding, errorsPath string, dryRun, asJSON bool) error {
	var in io.Reader = env.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
		if batch == "" {
			batch = filepath.Base(path)
		}
		if errorsPath == "" {
			errorsPath = strings.TrimSuffix(path, filepath.Ext(path)) + ".errors.csv"
		}
	}
	if batch == "" {
		return usagef("name the import with --batch when reading stdin")
	}
	rows, bad, err := importer.ReadPointBalances(in, encoding)
	if err != nil {
		return err
	}
	res, err := st.ImportPointBalances(ctx, batch, rows, dryRun)
	if err != nil {
		return err
	}
	res.Rejected = append(bad, res.Rejected...)
	if errorsPath != "" {
		_ = os.Remove(errorsPath)
		if len(res.Rejected) > 0 {
			f, err := os.Create(errorsPath)
			if err != nil {
				return err
			}
			if err := importer.PointErrorsCSV(f, res.Rejected); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
		}
	}
	if asJSON {
		if err := printJSON(env.Stdout, res); err != nil {
			return err
		}
	} else {
		verb := "imported"
		if dryRun {
			verb = "would import (dry run)"
		}
		fmt.Fprintf(env.Stdout, "%s: %s %d balances, %s points; %d already imported under %q; %d rows rejected\n",
			batch, verb, res.Imported, group(int(res.Points)), res.Skipped, batch, len(res.Rejected))
		for i, r := range res.Rejected {
			if i == 20 {
				fmt.Fprintf(env.Stderr, "… and %d more\n", len(res.Rejected)-20)
				break
			}
			fmt.Fprintf(env.Stderr, "line %d: %s\n", r.Line, r.Reason)
		}
		if len(res.Rejected) > 0 && errorsPath != "" {
			fmt.Fprintf(env.Stdout, "rejected rows with reasons: %s\n", errorsPath)
		}
	}
	if len(res.Rejected) > 0 {
		return partialError{fmt.Sprintf("%d rows rejected", len(res.Rejected))}
	}
	return nil
}
