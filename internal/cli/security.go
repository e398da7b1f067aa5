package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/clock"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/retention"
	"github.com/enishi-crm/enishi/internal/secret"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/store/sqlite"
)

// audit records a CLI action; the actor ("cli:USER") comes from the context.
func audit(ctx context.Context, st store.Store, action, target, detail string) error {
	return st.AppendAudit(ctx, store.AuditEntry{Action: action, Target: target, Detail: detail})
}

func cmdRole(ctx context.Context, env *Env, args []string) error {
	const synopsis = "role list | role create NAME --permissions a,b [--description TEXT] | role update NAME --permissions a,b | role delete NAME"
	if len(args) == 0 {
		return usagef("usage: enishi %s", synopsis)
	}
	fs := newFlags(env, "role", synopsis)
	db := addDBFlags(fs, env)
	perms := fs.String("permissions", "", "comma-separated permissions: "+strings.Join(auth.PermissionNames(), ", "))
	desc := fs.String("description", "", "what the role is for")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub := args[0]; {
	case sub == "list" && len(pos) == 0:
		rs, err := enishihttp.AllRoles(ctx, st)
		if err != nil {
			return err
		}
		for _, r := range rs {
			kind := "custom"
			if r.BuiltIn {
				kind = "built-in"
			}
			fmt.Fprintf(env.Stdout, "%s\t%s\t%s\n", r.Name, kind, strings.Join(r.Permissions, ","))
		}
	case (sub == "create" || sub == "update") && len(pos) == 1:
		r, err := enishihttp.SaveRole(ctx, st, pos[0], *desc, []string{*perms}, sub == "update")
		if err != nil {
			return err
		}
		if err := audit(ctx, st, "role."+sub, "role:"+r.Name, strings.Join(r.Permissions, " ")); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "role %s: %s\n", r.Name, strings.Join(r.Permissions, ","))
	case sub == "delete" && len(pos) == 1:
		if err := st.DeleteRole(ctx, pos[0]); err != nil {
			return err
		}
		if err := audit(ctx, st, "role.delete", "role:"+pos[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted role %s\n", pos[0])
	default:
		return usagef("usage: enishi %s", synopsis)
	}
	return nil
}

func cmdAudit(ctx context.Context, env *Env, args []string) error {
	const synopsis = "audit list [--since DATE] [--until DATE] [--action A] [--actor A] [--limit N] [--json] | audit export [--output FILE] [filters]"
	if len(args) == 0 {
		return usagef("usage: enishi %s", synopsis)
	}
	fs := newFlags(env, "audit", synopsis)
	db := addDBFlags(fs, env)
	since := fs.String("since", "", "from this date (YYYY-MM-DD, Asia/Tokyo) or RFC 3339 time")
	until := fs.String("until", "", "before this date or time")
	action := fs.String("action", "", `action, or a prefix ending in "." (customer.)`)
	actor := fs.String("actor", "", "who acted (an e-mail, api-key:ID, cli:USER, system)")
	limit := fs.Int("limit", 100, "entries to list (export: all unless set)")
	asJSON := fs.Bool("json", false, "print JSON")
	output := fs.String("output", "", "write the CSV export to this file instead of standard output")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	q := store.AuditQuery{Action: *action, Actor: *actor, Limit: *limit}
	if args[0] == "export" && !flagSet(fs, "limit") {
		q.Limit = -1
	}
	for _, f := range []struct {
		v   string
		dst *time.Time
	}{{*since, &q.Since}, {*until, &q.Until}} {
		if f.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, f.v)
		if err != nil {
			if t, err = time.ParseInLocation("2006-01-02", f.v, clock.Tokyo); err != nil {
				return usagef("%q is not a date (2026-04-01) or RFC 3339 time", f.v)
			}
		}
		*f.dst = t
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	es, err := st.AuditEntries(ctx, q)
	if err != nil {
		return err
	}
	switch args[0] {
	case "list":
		if *asJSON {
			return printJSON(env.Stdout, es)
		}
		for _, e := range es {
			fmt.Fprintf(env.Stdout, "%s  %-24s %-22s %-18s %s %s\n", e.At.In(clock.Tokyo).Format("2006-01-02 15:04:05"), e.Actor, e.Action, e.Target, e.Detail, e.IP)
		}
	case "export":
		var w io.Writer = env.Stdout
		if *output != "" {
			f, err := os.OpenFile(*output, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := audit(ctx, st, "audit.export", "", fmt.Sprintf("%d entries", len(es))); err != nil {
			return err
		}
		if err := enishihttp.WriteAuditCSV(w, es); err != nil {
			return err
		}
		if *output != "" {
			fmt.Fprintf(env.Stderr, "wrote %d entries to %s\n", len(es), *output)
		}
	default:
		return usagef("usage: enishi %s", synopsis)
	}
	return nil
}

func cmdSecret(ctx context.Context, env *Env, args []string) error {
	const synopsis = "secret keygen | secret set NAME (value on standard input) | secret list | secret delete NAME | secret rotate"
	if len(args) == 0 {
		return usagef("usage: enishi %s", synopsis)
	}
	if args[0] == "keygen" {
		fmt.Fprintln(env.Stdout, secret.GenerateKey())
		fmt.Fprintf(env.Stderr, "store it outside the database: %s=… or a file named by %s (mode 0600); see docs/security.md\n", secret.KeyEnv, secret.KeyFileEnv)
		return nil
	}
	fs := newFlags(env, "secret", synopsis)
	db := addDBFlags(fs, env)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub := args[0]; {
	case sub == "set" && len(pos) == 1:
		line, err := bufio.NewReader(env.Stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		value := strings.TrimRight(line, "\r\n")
		if value == "" {
			return usagef("give the secret's value on standard input (e.g. enishi secret set %s < file)", pos[0])
		}
		if err := st.SetSecret(ctx, pos[0], value); err != nil {
			return err
		}
		if err := audit(ctx, st, "secret.set", "secret:"+pos[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "stored secret %s (encrypted)\n", pos[0])
	case sub == "list" && len(pos) == 0:
		list, err := st.ListSecrets(ctx)
		if err != nil {
			return err
		}
		for _, s := range list {
			fmt.Fprintf(env.Stdout, "%s\tkey %s\t%s\n", s.Name, s.KeyID, s.UpdatedAt.In(clock.Tokyo).Format("2006-01-02 15:04"))
		}
	case sub == "delete" && len(pos) == 1:
		if err := st.DeleteSecret(ctx, pos[0]); err != nil {
			return err
		}
		if err := audit(ctx, st, "secret.delete", "secret:"+pos[0], ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted secret %s\n", pos[0])
	case sub == "rotate" && len(pos) == 0:
		n, err := st.RotateSecrets(ctx)
		if err != nil {
			return err
		}
		if err := audit(ctx, st, "secret.rotate", "", fmt.Sprintf("%d re-encrypted", n)); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "re-encrypted %d secret(s) with the current key; %s can now be removed\n", n, secret.PreviousKeyEnv)
	default:
		return usagef("usage: enishi %s", synopsis)
	}
	return nil
}

func cmdRetention(ctx context.Context, env *Env, args []string) error {
	const synopsis = "retention list | retention run"
	if len(args) == 0 {
		return usagef("usage: enishi %s", synopsis)
	}
	fs := newFlags(env, "retention", synopsis)
	db := addDBFlags(fs, env)
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "list":
		for _, t := range store.RetentionTasks() {
			days, err := retention.Days(ctx, st, t)
			if err != nil {
				return err
			}
			keep := "kept forever"
			if days > 0 {
				keep = fmt.Sprintf("kept %d days", days)
			}
			fmt.Fprintf(env.Stdout, "%-12s %-16s %s (setting %s) — %s\n", t.Name, t.Table, keep, t.Setting, t.Description)
		}
	case "run":
		c := env.Clock
		if c == nil {
			c = clock.Real{}
		}
		res, err := retention.Run(ctx, st, c.Now())
		for _, r := range res {
			if r.Days == 0 {
				fmt.Fprintf(env.Stdout, "%-12s kept forever\n", r.Task)
				continue
			}
			fmt.Fprintf(env.Stdout, "%-12s deleted %d rows before %s\n", r.Task, r.Deleted, r.Cutoff.In(clock.Tokyo).Format("2006-01-02"))
		}
		return err
	default:
		return usagef("usage: enishi %s", synopsis)
	}
	return nil
}

func cmdBackup(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "backup", "backup FILE [--db PATH]")
	db := addDBFlags(fs, env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: enishi backup FILE")
	}
	if db.url != "" {
		return usagef("enishi backup copies SQLite databases; for PostgreSQL run: pg_dump --format=custom --file=%s \"$ENISHI_DATABASE_URL\" (docs/operations.md)", pos[0])
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	if err := sqlite.Backup(ctx, st, pos[0]); err != nil {
		return err
	}
	info, err := os.Stat(pos[0])
	if err != nil {
		return err
	}
	if err := audit(ctx, st, "ops.backup", "", fmt.Sprintf("%d bytes", info.Size())); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "backed up %s to %s (%s bytes, %s)\n", db.path, pos[0], group(int(info.Size())), time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdRestore(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "restore", "restore FILE [--db PATH] [--force]")
	db := addDBFlags(fs, env)
	force := fs.Bool("force", false, "replace an existing database")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("usage: enishi restore FILE --db PATH")
	}
	if db.url != "" {
		return usagef("enishi restore replaces SQLite databases; for PostgreSQL run: pg_restore --clean --if-exists --dbname=\"$ENISHI_DATABASE_URL\" %s (docs/operations.md)", pos[0])
	}
	if _, err := os.Stat(db.path); err == nil && !*force {
		return usagef("%s exists; stop enishi serve and run again with --force to replace it", db.path)
	}
	if err := sqlite.Restore(ctx, pos[0], db.path); err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil) // migrates a backup from an older version
	if err != nil {
		return err
	}
	defer st.Close()
	if err := audit(ctx, st, "ops.restore", "", "from "+pos[0]); err != nil {
		return err
	}
	s, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "restored %s from %s: %d customers, %d orders, %d events\n", db.path, pos[0], s.Customers, s.Orders, s.Events)
	return nil
}
