// Draws a campaign's spend per member, holdout against treatment, with the lift's interval.
(function () {
  "use strict";
  var source = document.getElementById("lift-chart-data");
  var canvas = document.getElementById("chart-lift");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var datasets = [{ label: "Spend per member (" + data.currency + ")", data: data.means,
                    backgroundColor: ["#9e9e9e", "#1565c0"] }];
  if (data.interval) {
    datasets.push({ label: "95% interval of treatment (Welch)", data: [null, data.interval],
                    backgroundColor: "rgba(21, 101, 192, 0.25)", borderColor: "#1565c0",
                    borderWidth: 1 });
  }
  new Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: datasets },
    options: { animation: false, scales: { y: { beginAtZero: true } } }
  });
})();
