// Monitor page: one Chart.js chart per series (items per window as bars, negative share as a line), from the
// JSON block the server embedded (no inline script under the page's CSP).
(function () {
  "use strict";
  var series = JSON.parse(document.getElementById("series-data").textContent || "[]");
  function label(iso) { return iso.slice(5, 16).replace("T", " "); }
  series.forEach(function (s, i) {
    var canvas = document.getElementById("chart-" + i);
    if (!canvas) { return; }
    new Chart(canvas, {
      data: {
        labels: s.starts.map(label),
        datasets: [
          { type: "bar", label: "items", data: s.volume, backgroundColor: "#9db8e3", yAxisID: "y", order: 1 },
          { type: "line", label: "negative share", data: s.negative_share, borderColor: "#b3261e",
            backgroundColor: "#b3261e", pointRadius: 2, borderWidth: 2, yAxisID: "share", order: 0 }
        ]
      },
      options: {
        animation: false, maintainAspectRatio: false,
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "items" }, ticks: { precision: 0 } },
          share: { position: "right", min: 0, max: 1, title: { display: true, text: "negative share" },
                   grid: { drawOnChartArea: false } }
        }
      }
    });
  });
  document.body.setAttribute("data-charts", String(series.length));
})();
