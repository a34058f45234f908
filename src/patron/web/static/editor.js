// The program editor: a problem's "line N" link puts the cursor on that line, and a
// simulation swapped in by htmx draws its cost-per-rule chart (#sim-chart-data).
(function () {
  "use strict";
  var source = document.getElementById("source");

  function goToLine(line) {
    var lines = source.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
    var end = start + (lines[line - 1] || "").length;
    source.focus();
    source.setSelectionRange(start, end);
    var height = parseFloat(getComputedStyle(source).lineHeight) || 20;
    source.scrollTop = Math.max(0, (line - 5) * height);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a.goto[data-line]");
    if (!link || !source) { return; }
    event.preventDefault();
    goToLine(parseInt(link.getAttribute("data-line"), 10));
  });

  function drawSimulation() {
    var data = document.getElementById("sim-chart-data");
    var canvas = document.getElementById("chart-sim-cost");
    if (!data || !canvas || typeof Chart === "undefined") { return; }
    var chart = JSON.parse(data.textContent);
    var scale = Math.pow(10, chart.exponent);
    var major = function (values) { return values.map(function (v) { return v / scale; }); };
    var old = Chart.getChart(canvas);
    if (old) { old.destroy(); }
    new Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: [
        { label: "Current version", data: major(chart.current), backgroundColor: "#1565c0" },
        { label: "Draft", data: major(chart.draft), backgroundColor: "#c62828" }] },
      options: { animation: false, responsive: true, aspectRatio: 2.5 }
    });
  }
  document.body.addEventListener("htmx:afterSettle", drawSimulation);
})();
