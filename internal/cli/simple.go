package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/channel"
	enishihttp "github.com/enishi-crm/enishi/internal/http"
	"github.com/enishi-crm/enishi/internal/ingest"
	"github.com/enishi-crm/enishi/internal/store"
)

func cmdMigrate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "migrate", "migrate [flags]")
	db := addDBFlags(fs, env)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(env.Stdout, "database is up to date (%s)\n", st.Backend())
	return nil
}

func cmdStats(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "stats", "stats [--json]")
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.Stdout, s)
	}
	fmt.Fprintf(env.Stdout, "customers  %s\norders     %s\nline items %s\nproducts   %s\nevents     %s\n",
		group(int(s.Customers)), group(int(s.Orders)), group(int(s.LineItems)), group(int(s.Products)), group(int(s.Events)))
	return nil
}

const userSynopsis = `user create --role ROLE EMAIL | user list | user passwd EMAIL
       enishi user role EMAIL ROLE | user disable EMAIL | user enable EMAIL
       enishi user signout EMAIL | user totp-reset EMAIL`

func cmdUser(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("user needs a subcommand: create, list, passwd, role, disable, enable, signout, totp-reset")
	}
	fs := newFlags(env, "user", userSynopsis)
	db := addDBFlags(fs, env)
	role := fs.String("role", "", "role: "+strings.Join(auth.RoleNames, ", ")+" or a custom role")
	name := fs.String("name", "", "display name")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	need := map[string]int{"create": 1, "list": 0, "passwd": 1, "role": 2, "disable": 1, "enable": 1, "signout": 1, "totp-reset": 1}
	if n, ok := need[args[0]]; !ok {
		return usagef("unknown user subcommand %q", args[0])
	} else if len(pos) != n || args[0] == "create" && *role == "" {
		return usagef("usage: enishi %s", userSynopsis)
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	var u *store.User
	if args[0] != "create" && args[0] != "list" {
		if u, err = st.UserByEmail(ctx, pos[0]); err != nil {
			return err
		}
	}
	switch args[0] {
	case "create":
		u, password, err := enishihttp.CreateUser(ctx, st, pos[0], *name, *role, "")
		if err != nil {
			return err
		}
		if err := audit(ctx, st, "user.create", "user:"+itoa(u.ID), "role "+u.Role); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created %s (%s)\npassword: %s\n(shown once; change it after signing in)\n", u.Email, u.Role, password)
	case "list":
		us, err := st.ListUsers(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			state := "active"
			if u.DisabledAt != nil {
				state = "disabled"
			}
			totp := ""
			if u.TOTPEnabled {
				totp = "\t2FA"
			}
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s\t%s%s\n", u.ID, u.Email, u.Role, state, totp)
		}
	case "passwd":
		password := auth.GeneratePassword()
		if err := enishihttp.SetPassword(ctx, st, u.ID, password); err != nil {
			return err
		}
		if err := audit(ctx, st, "user.password_reset", "user:"+itoa(u.ID), ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "new password for %s: %s\n(every session of this user was signed out)\n", u.Email, password)
	case "role":
		if err := enishihttp.CheckRole(ctx, st, pos[1]); err != nil {
			return err
		}
		if err := st.SetUserRole(ctx, u.ID, pos[1]); err != nil {
			return err
		}
		if err := audit(ctx, st, "user.role", "user:"+itoa(u.ID), "role "+pos[1]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s is now %s\n", u.Email, pos[1])
	case "disable", "enable":
		if err := st.SetUserDisabled(ctx, u.ID, args[0] == "disable"); err != nil {
			return err
		}
		if err := audit(ctx, st, "user."+args[0], "user:"+itoa(u.ID), ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s %sd\n", u.Email, args[0])
	case "signout":
		if err := st.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		if err := audit(ctx, st, "user.signout", "user:"+itoa(u.ID), ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "every session of %s ended\n", u.Email)
	case "totp-reset":
		if err := st.SetUserTOTP(ctx, u.ID, "", false); err != nil {
			return err
		}
		if err := audit(ctx, st, "user.totp_reset", "user:"+itoa(u.ID), ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "second factor of %s removed; they sign in with their password and may set it up again\n", u.Email)
	}
	return nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func cmdAPIKey(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("apikey needs a subcommand: create, list, revoke")
	}
	fs := newFlags(env, "apikey", "apikey create --scopes a,b NAME | apikey list | apikey revoke ID")
	db := addDBFlags(fs, env)
	scopes := fs.String("scopes", "", "comma-separated scopes: "+scopeList())
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch args[0] {
	case "create":
		if len(pos) != 1 {
			return usagef("usage: enishi apikey create --scopes customers:read NAME")
		}
		k, secret, err := enishihttp.CreateAPIKey(ctx, st, pos[0], []string{*scopes}, store.OriginFrom(ctx).Actor)
		if err != nil {
			return err
		}
		if err := audit(ctx, st, "apikey.create", "api-key:"+itoa(k.ID), "scopes "+strings.Join(k.Scopes, " ")); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created key %d (%s) with scopes %s\nkey: %s\n(shown once; store it in the integration's settings)\n", k.ID, k.Name, strings.Join(k.Scopes, ","), secret)
	case "list":
		ks, err := st.ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		for _, k := range ks {
			state, used := "active", "never used"
			if k.RevokedAt != nil {
				state = "revoked"
			}
			if k.LastUsedAt != nil {
				used = "last used " + k.LastUsedAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s…\t%s\t%s\t%s\n", k.ID, k.Name, k.Prefix, strings.Join(k.Scopes, ","), state, used)
		}
	case "revoke":
		if len(pos) != 1 {
			return usagef("usage: enishi apikey revoke ID")
		}
		var id int64
		if _, err := fmt.Sscan(pos[0], &id); err != nil {
			return usagef("%q is not a key id", pos[0])
		}
		if err := st.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		if err := audit(ctx, st, "apikey.revoke", "api-key:"+itoa(id), ""); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked key %d\n", id)
	default:
		return usagef("unknown apikey subcommand %q", args[0])
	}
	return nil
}

func scopeList() string {
	s := make([]string, len(auth.AllPermissions))
	for i, p := range auth.AllPermissions {
		s[i] = string(p)
	}
	return strings.Join(s, ", ")
}

// knownSettings documents the settings the CLI can change.
var knownSettings = func() map[string]string {
	m := map[string]string{
		"identity.manual_merge_kinds": `JSON array of identifier kinds whose links wait for approval instead of merging, e.g. ["phone"]`,
		"messaging.rules":             `JSON: quiet hours and frequency caps of marketing messages (docs/journeys.md#rules)`,
		"channels":                    `JSON of the channel settings: base_url, shop (footer), email, line, sms, push, webhook (docs/channels/README.md)`,
		ingest.SettingUserIDSource:    `the system whose customer ids the event API's userId values are (e.g. shopify, eccube); unset: the write key's name`,
		ingest.SettingLineProvider:    `the LINE provider id LINE user ids belong to; unset: the webhook's destination`,
		"loyalty.program":             "the loyalty programme as JSON: ranks, points, coupons (enishi loyalty show|set; docs/loyalty.md)",
		"analytics.rfm":               `JSON {"window_days":365,"thresholds":{"method":"fixed","recency_days":[30,60,90,180],"frequency":[10,7,4,2],"monetary":[100000,50000,30000,10000]},"segments":[…]} (docs/analytics.md)`,
		"analytics.cpm":               `JSON {"dormant_days":240,"spend_yen":70000,"tenure_days":210} (docs/analytics.md)`,
	}
	for _, t := range store.RetentionTasks() {
		m[t.Setting] = fmt.Sprintf("days to keep %s (0 = forever; applied daily by serve, or by `enishi retention run`)", t.Description)
	}
	return m
}()

func cmdSettings(ctx context.Context, env *Env, args []string) error {
	fs := newFlags(env, "settings", "settings get KEY | settings set KEY VALUE | settings list | settings set-secret NAME [VALUE|-]")
	db := addDBFlags(fs, env)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("settings needs get, set or list")
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch {
	case pos[0] == "list":
		for _, k := range sortedKeys(knownSettings) {
			v, ok, err := st.Setting(ctx, k)
			if err != nil {
				return err
			}
			if !ok {
				v = "(default)"
			}
			fmt.Fprintf(env.Stdout, "%s = %s\n    %s\n", k, v, knownSettings[k])
		}
	case pos[0] == "set-secret" && (len(pos) == 2 || len(pos) == 3):
		if !ingest.ValidSecretName(pos[1]) && !channel.ValidSecretName(pos[1]) {
			return usagef("%q is not an integration secret (%s, %s)", pos[1], ingest.SecretNamesHelp, strings.Join(channel.SecretNames, ", "))
		}
		value := ""
		if len(pos) == 3 && pos[2] != "-" {
			value = pos[2]
		} else { // from standard input, so the secret stays out of shell history
			b, err := io.ReadAll(io.LimitReader(env.Stdin, 4096))
			if err != nil {
				return err
			}
			value = strings.TrimSpace(string(b))
		}
		if err := (ingest.SettingsSecrets{Store: st}).SetSecret(ctx, pos[1], value); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s set\n", pos[1])
	case pos[0] == "get" && len(pos) == 2 && strings.HasPrefix(pos[1], "secret."):
		return usagef("secrets are not shown; set them again with settings set-secret")
	case pos[0] == "set" && len(pos) == 3 && strings.HasPrefix(pos[1], "secret."):
		return usagef("use settings set-secret for secrets")
	case pos[0] == "get" && len(pos) == 2:
		v, ok, err := st.Setting(ctx, pos[1])
		if err != nil {
			return err
		}
		if !ok {
			return usagef("%s is not set", pos[1])
		}
		fmt.Fprintln(env.Stdout, v)
	case pos[0] == "set" && len(pos) == 3:
		if err := validateSetting(pos[1], pos[2]); err != nil {
			return err
		}
		if err := st.SetSetting(ctx, pos[1], pos[2]); err != nil {
			return err
		}
		if err := audit(ctx, st, "settings.set", "setting:"+pos[1], pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s = %s\n", pos[1], pos[2])
	default:
		return usagef("usage: enishi settings get KEY | set KEY VALUE | list")
	}
	return nil
}
