package content

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/message"
)

func mailTemplate(blocks ...Block) *Template {
	return &Template{Name: "再購入のご案内", Variants: []Variant{{Channel: message.Email, Subject: "{{ customer.honorific_name }}、{{ last_purchase.product }}はいかがでしたか", Blocks: blocks}}}
}

func TestRenderEmailBlocksWithMergeFieldsAndFooter(t *testing.T) {
	e := NewEngine()
	tpl := mailTemplate(
		Block{Type: BlockHeading, Text: "{{ customer.honorific_name }}"},
		Block{Type: BlockText, Text: "前回のご購入から{{ days_since_last_purchase }}日です。\nポイント残高: {{ points.balance }}pt ({{ rank }})"},
		Block{Type: BlockProducts, Count: 2},
		Block{Type: BlockCoupon, If: `rank == "ゴールド"`},
		Block{Type: BlockButton, Text: "ショップへ", URL: "{{ shop.url }}/?a=1&b=2"},
	)
	c, err := e.Check(tpl, Shop{})
	if err != nil {
		t.Fatal(err)
	}
	d := SampleData(Shop{})
	d.LastName = "<script>"
	out, err := c.Render(message.Email, &d)
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "<script> 花子 様、有機ほうじ茶 100gはいかがでしたか" {
		t.Fatalf("subject = %q", out.Subject)
	}
	for _, want := range []string{"&lt;script&gt; 花子 様", "42日です。<br>", "1280pt (ゴールド)", "和紅茶 50g", "1,296円", "SPRING-8K2Q",
		`href="https://shop.example.com/?a=1&amp;b=2"`, "東京都千代田区千代田1-1", `href="https://crm.example.com/u/sample"`} {
		if !strings.Contains(out.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(out.HTML, "<script>") || strings.Contains(out.HTML, "季節の和菓子") {
		t.Error("HTML has an unescaped merge field or a third product")
	}
	for _, want := range []string{"■ <script> 花子 様", "・和紅茶 50g 1,296円", "クーポンコード: SPRING-8K2Q", "配信停止: https://crm.example.com/u/sample", "▶ ショップへ\nhttps://shop.example.com/?a=1&b=2"} {
		if !strings.Contains(out.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, out.Text)
		}
	}
	d.Rank = "ブロンズ"
	d.Footer = false
	out, _ = c.Render(message.Email, &d)
	if strings.Contains(out.HTML, "SPRING-8K2Q") || strings.Contains(out.Text, "配信停止") {
		t.Error("conditional coupon or footer shown when it should not be")
	}
}

func TestSaveTimeCheckNamesTheBrokenField(t *testing.T) {
	e := NewEngine()
	cases := []struct {
		tpl   *Template
		field string
		msg   string
	}{
		{mailTemplate(Block{Type: BlockText, Text: "{{ customer.nmae }}"}), "email.html", "undefined variable"},
		{mailTemplate(Block{Type: BlockText, Text: "{% if points.balance > 0 %}x"}), "variants[0].html", ""},
		{mailTemplate(Block{Type: "video"}), "variants[0].blocks[0].type", "not a block type"},
		{mailTemplate(Block{Type: BlockText, Text: "{{ x | nosuchfilter }}"}), "", ""},
		{&Template{Name: "x", Variants: []Variant{{Channel: message.LINE, LINE: []LINEMessage{{Type: LINEFlex, AltText: "a", Contents: json.RawMessage(`{"type":"bubble","body":{"text":"{{ coupon.cod }}"}}`)}}}}}, "line.line[0].contents", ""},
		{&Template{Name: "x", Variants: []Variant{{Channel: "fax", Text: "x"}}}, "variants[0].channel", "not a channel"},
		{mailTemplate(Block{Type: BlockText, Text: `{% include "/etc/passwd" %}`}), "", "include is not allowed"},
	}
	for i, tc := range cases {
		_, err := e.Check(tc.tpl, Shop{})
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		if errs.Code(err) != errs.Invalid {
			t.Errorf("case %d: code %s: %v", i, errs.Code(err), err)
		}
		if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("case %d: error %q does not name %q / %q", i, err, tc.field, tc.msg)
		}
	}
}

func TestEmptyCustomerRendersWithoutErrors(t *testing.T) {
	e := NewEngine()
	tpl := mailTemplate(Block{Type: BlockText, Text: "{{ customer.honorific_name }} {{ days_since_last_purchase | plus: 1 }} {{ last_purchase.product }}"}, Block{Type: BlockProducts})
	c, err := e.Check(tpl, Shop{})
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Shop: SampleData(Shop{}).Shop, UnsubscribeURL: "https://x/u"}
	out, err := c.Render(message.Email, &d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.Text, "お客様 1") {
		t.Fatalf("text = %q", out.Text)
	}
}

func TestMarketingFooterNeedsSenderDetails(t *testing.T) {
	e := NewEngine()
	c, err := e.Compile(mailTemplate(Block{Type: BlockText, Text: "こんにちは"}))
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Footer: true, UnsubscribeURL: "https://x/u", Shop: Shop{Name: "店"}}
	if _, err := c.Render(message.Email, &d); err == nil || !strings.Contains(err.Error(), "address and contact") {
		t.Fatalf("err = %v", err)
	}
}

func TestLINEAndWebhookVariantsRenderJSONStrings(t *testing.T) {
	e := NewEngine()
	tpl := &Template{Name: "x", Variants: []Variant{
		{Channel: message.LINE, LINE: []LINEMessage{{Type: LINEText, Text: "{{ customer.honorific_name }}\n{{ coupon.code }}"},
			{Type: LINEFlex, AltText: "おすすめ", Contents: json.RawMessage(`{"type":"bubble","body":{"type":"box","contents":[{"type":"text","text":"{{ recommended[0].name }} \"新作\""}],"size":3}}`)}}},
		{Channel: message.Webhook, Payload: json.RawMessage(`{"customer":"{{ customer.id }}","points":1,"tags":["{{ rank }}"]}`)},
	}}
	c, err := e.Check(tpl, Shop{})
	if err != nil {
		t.Fatal(err)
	}
	d := SampleData(Shop{})
	out, err := c.Render(message.LINE, &d)
	if err != nil {
		t.Fatal(err)
	}
	if out.LINE[0].Text != "山田 花子 様\nSPRING-8K2Q" {
		t.Fatalf("text = %q", out.LINE[0].Text)
	}
	var flex map[string]any
	if err := json.Unmarshal(out.LINE[1].Contents, &flex); err != nil {
		t.Fatal(err)
	}
	if got := flex["body"].(map[string]any)["contents"].([]any)[0].(map[string]any)["text"]; got != `和紅茶 50g "新作"` {
		t.Fatalf("flex text = %v", got)
	}
	out, err = c.Render(message.Webhook, &d)
	if err != nil {
		t.Fatal(err)
	}
	if string(out.Payload) != `{"customer":"1","points":1,"tags":["ゴールド"]}` {
		t.Fatalf("payload = %s", out.Payload)
	}
}

func TestFormatYen(t *testing.T) {
	for n, want := range map[int64]string{0: "0円", 999: "999円", 1000: "1,000円", 1234567: "1,234,567円", -5000: "-5,000円"} {
		if got := formatYen(n); got != want {
			t.Errorf("formatYen(%d) = %q, want %q", n, got, want)
		}
	}
}
