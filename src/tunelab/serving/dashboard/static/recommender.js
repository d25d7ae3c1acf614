// Recommender page: the build's metrics per model as grouped bars, from the JSON block the server embedded
// (no inline script under the page's CSP).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("metrics-data").textContent || "{}");
  var canvas = document.getElementById("metrics-chart");
  if (!canvas || !data.models || !data.models.length) { return; }
  var colours = { recall: "#9db8e3", ndcg: "#1f5fbf", cold_pool_recall: "#b3261e" };
  var names = { recall: "Recall@10", ndcg: "NDCG@10", cold_pool_recall: "cold pool Recall@10" };
  var datasets = Object.keys(data.series).map(function (key) {
    return { label: names[key] || key, data: data.series[key], backgroundColor: colours[key] || "#777" };
  });
  new Chart(canvas, {
    type: "bar",
    data: { labels: data.models, datasets: datasets },
    options: { animation: false, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } }
  });
  document.body.setAttribute("data-charts", "1");
})();
