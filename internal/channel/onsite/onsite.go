// Package onsite is the on-site channel: messages (popups, banners) the
// enishi JS tag shows to a visitor. Sending one records it for the
// customer; the tag fetches it on the visitor's next page view and it
// counts as delivered once shown.
package onsite

import (
	"context"

	"github.com/enishi-crm/enishi/internal/message"
)

// Sender hands on-site messages to the queue the JS tag polls: the send
// record itself, kept as "sent" until shown.
type Sender struct{}

// Channel implements message.Sender.
func (Sender) Channel() message.Channel { return message.OnSite }

// Provider names the provider in send records.
func (Sender) Provider() string { return "onsite" }

// Send implements message.Sender.
func (Sender) Send(context.Context, message.Rendered) (message.Result, error) {
	return message.Result{Status: "sent"}, nil
}

// Snippet is the HTML a shop adds to its pages (after the enishi tag) to
// show on-site messages; see docs/channels/onsite.md.
const Snippet = `<script>
(function () {
  var base = document.currentScript.getAttribute("data-enishi") || "";
  var anon = decodeURIComponent((document.cookie.match(/(?:^|; )enishi_aid=([^;]*)/) || [])[1] || "");
  fetch(base + "/api/v1/onsite/messages?anonymous_id=" + encodeURIComponent(anon) + "&path=" + encodeURIComponent(location.pathname))
    .then(function (r) { return r.ok ? r.json() : { messages: [] }; })
    .then(function (d) {
      (d.messages || []).slice(0, 1).forEach(function (m) {
        var box = document.createElement("div");
        box.setAttribute("role", "dialog");
        box.style.cssText = "position:fixed;right:16px;bottom:16px;max-width:320px;padding:16px;background:#fff;border:1px solid #ddd;box-shadow:0 2px 8px rgba(0,0,0,.15);z-index:2147483647;font-size:14px";
        var h = document.createElement("strong"); h.textContent = m.title; box.appendChild(h);
        var p = document.createElement("p"); p.textContent = m.text; box.appendChild(p);
        if (m.url) { var a = document.createElement("a"); a.href = m.url; a.textContent = "詳しく見る"; box.appendChild(a); }
        var x = document.createElement("button"); x.textContent = "×"; x.setAttribute("aria-label", "閉じる");
        x.style.cssText = "position:absolute;top:4px;right:8px;border:0;background:none;font-size:18px;cursor:pointer";
        x.onclick = function () { box.remove(); }; box.appendChild(x);
        document.body.appendChild(box);
      });
    });
})();
</script>`
