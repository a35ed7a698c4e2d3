// Draws every analytics chart from the JSON its page embeds: a <canvas data-chart="ID">
// beside a json_script element with that ID ({type, labels, datasets: [{label, data, color,
// dash}]}). Numbers may arrive as strings (Decimals); "n/a" values arrive as null.
(function () {
  if (typeof Chart === "undefined") return;
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var spec = JSON.parse(source.textContent);
    new Chart(canvas, {
      type: spec.type,
      data: {
        labels: spec.labels,
        datasets: spec.datasets.map(function (d) {
          return {
            label: d.label,
            data: d.data.map(function (v) { return v === null ? null : Number(v); }),
            borderColor: d.color,
            backgroundColor: d.color,
            borderDash: d.dash ? [4, 4] : [],
            pointRadius: d.dash ? 0 : 3,
            borderWidth: d.dash ? 1 : 2,
            tension: 0.2,
          };
        }),
      },
      options: {
        responsive: true,
        interaction: { mode: "index", intersect: false },
        spanGaps: true,
      },
    });
  });
})();
