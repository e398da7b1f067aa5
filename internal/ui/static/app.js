// enishi UI: charts and small enhancements. Pages work without this file;
// it adds ECharts rendering and keeps charts sized. No inline scripts (the
// Content-Security-Policy forbids them): data comes in data-* attributes.
(function () {
  "use strict";
  var charts = [];

  // Charts are <div class="chart" data-chart='{…ECharts option…}'>.
  function renderCharts(root) {
    if (typeof window.echarts === "undefined") return;
    var els = Array.prototype.slice.call(root.querySelectorAll("[data-chart]"));
    if (root.matches && root.matches("[data-chart]")) els.push(root);
    els.forEach(function (el) {
      if (el.dataset.rendered) return;
      var option;
      try {
        option = JSON.parse(el.dataset.chart);
      } catch (e) {
        el.textContent = "chart data unreadable";
        return;
      }
      if (el.dataset.height) el.style.height = el.dataset.height + "px";
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(option);
      // data-chart-link: a click on a heat-map cell opens the link with
      // {x} and {y} replaced by the cell's 1-based indexes.
      var link = el.dataset.chartLink;
      if (link) {
        chart.on("click", function (p) {
          if (!Array.isArray(p.value)) return;
          window.location.href = link.replace("{x}", String(p.value[0] + 1)).replace("{y}", String(p.value[1] + 1));
        });
      }
      el.dataset.rendered = "1";
      charts.push(chart);
    });
  }

  // Elements with data-confirm ask before their form is submitted.
  function confirmSubmit(ev) {
    var form = ev.target;
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) ev.preventDefault();
  }

  document.addEventListener("DOMContentLoaded", function () {
    renderCharts(document);
    document.addEventListener("submit", confirmSubmit, true);
  });
  // htmx:load fires for every element htmx adds (a lazily loaded section,
  // a swapped fragment); with an outerHTML swap the event's target is gone.
  document.addEventListener("htmx:load", function (ev) { renderCharts(ev.detail && ev.detail.elt ? ev.detail.elt : document); });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
