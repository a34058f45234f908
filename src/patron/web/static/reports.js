// Draws an analytics table's chart from the JSON the page carries (#report-chart-data).
(function () {
  "use strict";
  var source = document.getElementById("report-chart-data");
  var canvas = document.getElementById("chart-report");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#1565c0", "#2e7d32", "#c62828"];
  new Chart(canvas, {
    type: data.labels.length > 24 ? "line" : "bar",
    data: { labels: data.labels, datasets: data.series.map(function (s, i) {
      return { label: s[0], data: s[1], borderColor: colours[i], backgroundColor: colours[i] };
    }) },
    options: { animation: false, responsive: true, aspectRatio: 2.5 }
  });
})();
