// Draws the dashboard's charts from the JSON the page carries (#chart-data).
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#1565c0", "#2e7d32", "#c62828", "#6a1b9a"];
  function draw(id, type, labels, series) {
    var canvas = document.getElementById(id);
    if (!canvas) { return; }
    new Chart(canvas, {
      type: type,
      data: {
        labels: labels,
        datasets: series.map(function (s, i) {
          return { label: s[0], data: s[1], borderColor: colours[i], backgroundColor: colours[i],
                   tension: 0.2 };
        })
      },
      options: { animation: false, responsive: true, maintainAspectRatio: true }
    });
  }
  draw("chart-members", "line", data.members.labels,
       [["Total members", data.members.total], ["New members", data.members.new]]);
  draw("chart-points", "bar", data.points.labels,
       [["Issued", data.points.issued], ["Spent", data.points.spent],
        ["Expired", data.points.expired]]);
  if (data.rfm) {
    var rfm = document.getElementById("chart-rfm");
    if (rfm) {
      new Chart(rfm, {
        type: "bar",
        data: { labels: data.rfm.labels,
                datasets: [{ label: "Members", data: data.rfm.members,
                             backgroundColor: colours[0] }] },
        options: { animation: false, indexAxis: "y", plugins: { legend: { display: false } } }
      });
    }
  }
  var tiers = document.getElementById("chart-tiers");
  if (tiers && data.tiers) {
    new Chart(tiers, {
      type: "bar",
      data: { labels: data.tiers.labels,
              datasets: [{ label: "Members", data: data.tiers.members,
                           backgroundColor: colours[0] }] },
      options: { animation: false, plugins: { legend: { display: false } } }
    });
  }
  var activity = document.getElementById("chart-activity");
  if (activity) {
    new Chart(activity, {
      type: "doughnut",
      data: { labels: data.activity.labels,
              datasets: [{ label: "Members", data: data.activity.members,
                           backgroundColor: colours }] },
      options: { animation: false, aspectRatio: 2 }
    });
  }
})();
