package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/enishi-crm/enishi/internal/clock"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/segment"
)

const segmentSynopsis = `segment list [--json]
       enishi segment show ID [--json]
       enishi segment create --name NAME --condition JSON|@FILE [--description TEXT]
       enishi segment update ID [--name NAME] [--condition JSON|@FILE] [--description TEXT]
       enishi segment delete ID
       enishi segment count ID
       enishi segment preview --condition JSON|@FILE [--sample N]
       enishi segment members ID [--limit N]
       enishi segment history ID [--limit N]
       enishi segment export ID [--encoding utf-8|shift_jis] [-o FILE]
       enishi segment fields`

// readArg reads a flag value given inline or as @FILE (- for stdin).
func readArg(env *Env, v string) ([]byte, error) {
	if !strings.HasPrefix(v, "@") {
		return []byte(v), nil
	}
	name := v[1:]
	if name == "-" {
		return io.ReadAll(env.Stdin)
	}
	return os.ReadFile(name)
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("%q is not an id", s)
	}
	return id, nil
}

func cmdSegment(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: enishi %s", segmentSynopsis)
	}
	sub := args[0]
	fs := newFlags(env, "segment", segmentSynopsis)
	db := addDBFlags(fs, env)
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "segment name")
	desc := fs.String("description", "", "description")
	condArg := fs.String("condition", "", "condition as JSON, or @FILE (docs/segments.md)")
	limit := fs.Int("limit", 50, "rows to list")
	sample := fs.Int("sample", 10, "customers to sample in a preview")
	enc := fs.String("encoding", segment.UTF8, "export encoding: utf-8 (with BOM, for Excel) or shift_jis")
	outFile := fs.String("o", "-", "export file (- for standard output)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	need := map[string]int{"list": 0, "show": 1, "create": 0, "update": 1, "delete": 1, "count": 1, "preview": 0, "members": 1,
		"history": 1, "export": 1, "fields": 0}
	n, ok := need[sub]
	if !ok {
		return usagef("unknown segment subcommand %q", sub)
	}
	if len(pos) != n {
		return usagef("usage: enishi %s", segmentSynopsis)
	}
	var id int64
	if n == 1 {
		if id, err = parseID(pos[0]); err != nil {
			return err
		}
	}
	cond := func(required bool) (*segment.Condition, error) {
		if *condArg == "" {
			if required {
				return nil, usagef("give --condition JSON or @FILE")
			}
			return nil, nil
		}
		raw, err := readArg(env, *condArg)
		if err != nil {
			return nil, err
		}
		c, err := segment.Parse(raw)
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
	if sub == "fields" {
		for _, f := range segment.Fields {
			src := ""
			if f.Source != "" {
				src = " (needs " + string(f.Source) + ")"
			}
			fmt.Fprintf(env.Stdout, "%-24s %-8s %s%s\n    ops: %s\n", f.Name, f.Kind, f.Label, src, strings.Join(segment.Ops(f.Kind), " "))
		}
		return nil
	}
	st, err := db.open(ctx, env, nil)
	if err != nil {
		return err
	}
	defer st.Close()
	switch sub {
	case "list":
		list, err := st.Segments(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, s := range list {
			fmt.Fprintf(env.Stdout, "%d\t%s\t%s members\n", s.ID, s.Name, group(int(s.MemberCount)))
		}
	case "show":
		s, err := st.Segment(ctx, id)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, s)
		}
		fmt.Fprintf(env.Stdout, "segment %d: %s\n%s\nmembers: %s\ncondition: %s\n", s.ID, s.Name, s.Description, group(int(s.MemberCount)), s.Condition.JSON())
	case "create":
		c, err := cond(true)
		if err != nil {
			return err
		}
		s, err := st.CreateSegment(ctx, segment.Segment{Name: *name, Description: *desc, Condition: *c, CreatedBy: "cli"})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "created segment %d (%s): %s members\n", s.ID, s.Name, group(int(s.MemberCount)))
	case "update":
		s, err := st.Segment(ctx, id)
		if err != nil {
			return err
		}
		c, err := cond(false)
		if err != nil {
			return err
		}
		if c != nil {
			s.Condition = *c
		}
		if *name != "" {
			s.Name = *name
		}
		if flagSet(fs, "description") {
			s.Description = *desc
		}
		if s, err = st.UpdateSegment(ctx, *s); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "updated segment %d (%s): %s members\n", s.ID, s.Name, group(int(s.MemberCount)))
	case "delete":
		if err := st.DeleteSegment(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted segment %d\n", id)
	case "count":
		n, err := st.CountSegment(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, n)
	case "preview":
		c, err := cond(true)
		if err != nil {
			return err
		}
		p, err := st.PreviewSegment(ctx, *c, *sample)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, p)
		}
		fmt.Fprintf(env.Stdout, "%s customers match\n", group(int(p.Count)))
		for _, s := range p.Sample {
			fmt.Fprintf(env.Stdout, "  #%d\t%s\t%s\n", s.ID, s.DisplayName, s.Email)
		}
	case "members":
		list, err := st.SegmentMembers(ctx, id, *limit, 0)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, s := range list {
			fmt.Fprintf(env.Stdout, "#%d\t%s\t%s\t%d orders\n", s.ID, s.DisplayName, s.Email, s.OrderCount)
		}
	case "history":
		list, err := st.SegmentChanges(ctx, id, *limit, 0)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, list)
		}
		for _, c := range list {
			what := "exited"
			if c.Entered {
				what = "entered"
			}
			fmt.Fprintf(env.Stdout, "%s\t#%d %s\n", c.At.In(clock.Tokyo).Format("2006-01-02 15:04"), c.CustomerID, what)
		}
	case "export":
		return exportSegment(ctx, env, st, id, *enc, *outFile)
	}
	return nil
}

func exportSegment(ctx context.Context, env *Env, st interface {
	ExportSegment(context.Context, int64, bool, func(segment.Member) error) error
}, id int64, enc, file string) error {
	var w io.Writer = env.Stdout
	if file != "-" {
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	ex, err := segment.NewExporter(bw, enc)
	if err != nil {
		return err
	}
	n := 0
	if err := st.ExportSegment(ctx, id, false, func(m segment.Member) error { n++; return ex.Write(m) }); err != nil {
		return err
	}
	if err := ex.Flush(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return errs.Errorf(errs.Internal, "write export: %v", err)
	}
	if file != "-" {
		fmt.Fprintf(env.Stderr, "exported %s members to %s\n", group(n), file)
	}
	return nil
}
