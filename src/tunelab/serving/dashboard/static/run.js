// Run page: draw the loss and dev-metric curves (Chart.js, vendored) and follow live training over SSE.
(function () {
  "use strict";
  var history = JSON.parse(document.getElementById("history").textContent || "[]");
  var live = document.getElementById("live");
  var bar = document.getElementById("progress");
  var text = document.getElementById("progress-text");
  var status = document.getElementById("run-status");
  function line(id, label, color) {
    return new Chart(document.getElementById(id), {
      type: "line",
      data: { datasets: [{ label: label, data: [], borderColor: color, pointRadius: 0, borderWidth: 2 }] },
      options: { animation: false, parsing: false, maintainAspectRatio: false,
                 scales: { x: { type: "linear", title: { display: true, text: "step" } } },
                 plugins: { legend: { display: false } } }
    });
  }
  var loss = line("loss-chart", "loss", "#1f5fbf");
  var metric = line("metric-chart", "dev metric", "#1e7a3d");
  metric.data.datasets[0].pointRadius = 3;
  function add(entry, redraw) {
    if (entry.loss !== undefined) { loss.data.datasets[0].data.push({ x: entry.step, y: entry.loss }); }
    if (entry.dev_metric !== undefined) {
      metric.data.datasets[0].data.push({ x: entry.step, y: entry.dev_metric });
      metric.data.datasets[0].label = "dev " + entry.dev_metric_name;
      metric.options.scales.y = { title: { display: true, text: entry.dev_metric_name } };
    }
    if (entry.total_steps) {
      bar.max = entry.total_steps; bar.value = entry.step;
      text.textContent = "step " + entry.step + " of " + entry.total_steps +
        (entry.loss !== undefined ? ", loss " + entry.loss.toFixed(4) : "");
    }
    if (redraw) { loss.update(); metric.update(); }
  }
  history.forEach(function (e) { add(e, false); });
  loss.update(); metric.update();
  document.body.setAttribute("data-curves", String(loss.data.datasets[0].data.length));
  if (live.getAttribute("data-live") !== "yes" || !window.EventSource) { return; }
  var source = new EventSource(live.getAttribute("data-events"));
  var received = 0;
  source.onmessage = function (msg) {
    add(JSON.parse(msg.data), true);
    received++;
    document.body.setAttribute("data-curves", String(loss.data.datasets[0].data.length));
  };
  source.addEventListener("end", function (msg) {
    source.close();
    var info = JSON.parse(msg.data);
    try { sessionStorage.setItem("tunelab-live-events", String(received)); } catch (e) { /* storage off */ }
    status.textContent = info.status === "done" ? "complete" : info.status;
    text.textContent = info.status === "done" ? "finished in " + info.seconds + " s; loading results…" :
      "training " + info.status + (info.error ? ": " + info.error : "");
    if (info.status === "done" || info.status === "failed") { window.setTimeout(function () { location.reload(); }, 800); }
  });
})();
