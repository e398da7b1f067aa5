// enishi UI: the message editors' live preview. A form marked
// data-preview-form posts into the preview iframes it names (the preview
// page has its own strict policy and no script) whenever an input
// changes, a moment after typing stops. Pages work without this file:
// their "preview" button does the same.
(function () {
  "use strict";
  function wire(form) {
    if (form.dataset.previewWired) return;
    form.dataset.previewWired = "1";
    var targets = (form.dataset.previewForm || "").split(" ").filter(Boolean);
    var timer = null;
    function refresh() {
      var action = form.dataset.previewAction;
      if (!action) return;
      targets.forEach(function (t) {
        var keepAction = form.getAttribute("action"), keepTarget = form.getAttribute("target");
        form.setAttribute("action", action + (action.indexOf("?") < 0 ? "?" : "&") + "width=" + encodeURIComponent(t));
        form.setAttribute("target", t);
        HTMLFormElement.prototype.submit.call(form);
        if (keepAction === null) form.removeAttribute("action"); else form.setAttribute("action", keepAction);
        if (keepTarget === null) form.removeAttribute("target"); else form.setAttribute("target", keepTarget);
      });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 500);
    });
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 100);
    });
    refresh();
  }
  function scan(root) {
    var forms = root.querySelectorAll ? root.querySelectorAll("form[data-preview-form]") : [];
    Array.prototype.forEach.call(forms, wire);
  }
  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  document.addEventListener("htmx:load", function (ev) { scan(ev.detail && ev.detail.elt ? ev.detail.elt.ownerDocument : document); });
})();
