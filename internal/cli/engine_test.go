package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/japanese"

	fakechannel "github.com/enishi-crm/enishi/internal/fake/channel"
)

func TestSegmentJourneyCampaignCommands(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			db := dbArgs(t, backend)
			cmd := func(want int, args ...string) string {
				t.Helper()
				code, out, errOut := run(t, nil, append(args, db...)...)
				if code != want {
					t.Fatalf("enishi %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, want, out, errOut)
				}
				return out + errOut
			}
			orders := write(t, "orders.csv", "order_id,customer_id,email,name,ordered_at,total,sku,quantity,unit_price\n"+
				"1,C1,a@example.com,山田 太郎,2026-03-30,3000,A,2,1500\n2,C2,b@example.com,佐藤 花子,2026-01-06,800,B,1,800\n")
			cmd(0, "import", "orders", orders)
			out := cmd(0, "segment", "create", "--name", "最近の購入者", "--condition", `{"field":"days_since_last_order","op":"<=","value":30}`)
			if !strings.Contains(out, "created segment 1") || !strings.Contains(out, "1 members") {
				t.Fatalf("create: %s", out)
			}
			if out = cmd(0, "segment", "count", "1"); strings.TrimSpace(out) != "1" {
				t.Fatalf("count: %q", out)
			}
			out = cmd(1, "segment", "create", "--name", "x", "--condition", `{"field":"nope"}`)
			if !strings.Contains(out, "condition.field: unknown field") {
				t.Fatalf("bad condition: %s", out)
			}
			if out = cmd(0, "segment", "preview", "--condition", `{"field":"order_count","op":">=","value":1}`); !strings.Contains(out, "2 customers match") {
				t.Fatalf("preview: %s", out)
			}
			file := filepath.Join(t.TempDir(), "seg.csv")
			cmd(0, "segment", "export", "1", "--encoding", "shift_jis", "-o", file)
			raw, _ := os.ReadFile(file)
			dec, _ := japanese.ShiftJIS.NewDecoder().Bytes(raw)
			if !strings.Contains(string(dec), "山田") || strings.Count(string(dec), "\r\n") != 2 {
				t.Fatalf("export: %q", dec)
			}
			if out = cmd(0, "journey", "templates"); !strings.Contains(out, "f2_followup") || !strings.Contains(out, "カゴ落ち") {
				t.Fatalf("templates: %s", out)
			}
			cmd(1, "journey", "create", "--template", "f2_followup")
			if out = cmd(0, "journey", "create", "--template", "vip_thanks", "--segment", "1"); !strings.Contains(out, "created journey 1") {
				t.Fatalf("create journey: %s", out)
			}
			if out = cmd(0, "journey", "enable", "1"); !strings.Contains(out, "is enabled") {
				t.Fatalf("enable: %s", out)
			}
			if out = cmd(0, "journey", "list"); !strings.Contains(out, "enabled") || !strings.Contains(out, "VIP") {
				t.Fatalf("list: %s", out)
			}
			if out = cmd(0, "journey", "show", "1"); !strings.Contains(out, "nextday") || !strings.Contains(out, "thanks") {
				t.Fatalf("show: %s", out)
			}
			camp := write(t, "c.json", `{"name":"春のお知らせ","segment_id":1,"channel":"email","variants":[{"content":{"subject":"春","text":"本文"}}]}`)
			if out = cmd(0, "campaign", "create", "--file", camp); !strings.Contains(out, "campaign 1") || !strings.Contains(out, "draft") {
				t.Fatalf("campaign: %s", out)
			}
			cmd(0, "campaign", "schedule", "1")
			sent := filepath.Join(t.TempDir(), "sent.jsonl")
			cmd(0, "engine", "run", "--once", "--fake-channel", sent)
			msgs, dups, err := fakechannel.ReadFile(sent)
			if err != nil || len(msgs) != 1 || len(dups) != 0 || msgs[0].Key != "campaign:1:customer:1" {
				t.Fatalf("sent = %+v %v %v", msgs, dups, err)
			}
			if out = cmd(0, "campaign", "stats", "1"); !strings.Contains(out, "(done)") {
				t.Fatalf("stats: %s", out)
			}
			if out = cmd(0, "journey", "stats", "1"); !strings.Contains(out, "entered 0") {
				t.Fatalf("journey stats: %s", out)
			}
			if out = cmd(0, "journey", "disable", "1"); !strings.Contains(out, "is disabled") {
				t.Fatalf("disable: %s", out)
			}
			cmd(2, "journey", "enable")
		})
	}
}
