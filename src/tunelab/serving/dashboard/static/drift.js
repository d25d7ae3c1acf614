// Drift page: one Chart.js chart per model, the p-value of each drift check over time on a log axis, with alpha as
// a dashed line; data from the JSON block the server embedded (no inline script under the page's CSP).
(function () {
  "use strict";
  var series = JSON.parse(document.getElementById("drift-data").textContent || "[]");
  var colours = ["#1f5fbf", "#b3261e", "#2e7d32", "#8e5bb5", "#c77700"];
  function label(iso) { return iso.slice(5, 16).replace("T", " "); }
  series.forEach(function (s, i) {
    var canvas = document.getElementById("chart-" + i);
    if (!canvas) { return; }
    var datasets = Object.keys(s.checks).map(function (name, k) {
      return { label: name.replace(/_/g, " "), borderColor: colours[k % colours.length],
               backgroundColor: colours[k % colours.length], pointRadius: 2, borderWidth: 2, spanGaps: true,
               data: s.checks[name].map(function (p) { return p === null ? null : Math.max(p, 1e-6); }) };
    });
    datasets.push({ label: "alpha", data: s.at.map(function () { return s.alpha; }), borderColor: "#666",
                    borderDash: [6, 4], pointRadius: 0, borderWidth: 1 });
    new Chart(canvas, {
      type: "line",
      data: { labels: s.at.map(label), datasets: datasets },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: { y: { type: "logarithmic", min: 1e-6, max: 1, title: { display: true, text: "p-value" } } }
      }
    });
  });
  document.body.setAttribute("data-charts", String(series.length));
})();
