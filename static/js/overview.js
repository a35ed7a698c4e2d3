// Draws the overview's monthly chart from the JSON the page embeds.
(function () {
  var el = document.getElementById("monthly");
  var data = document.getElementById("monthly-data");
  if (!el || !data || typeof Chart === "undefined") return;
  var series = JSON.parse(data.textContent);
  new Chart(el, {
    type: "line",
    data: {
      labels: series.labels,
      datasets: [
        { label: "Clicks", data: series.clicks, borderColor: "#94a3b8", tension: 0.3 },
        { label: "Referrals", data: series.referrals, borderColor: "#2563eb", tension: 0.3 },
        { label: "Customers won", data: series.converted, borderColor: "#16a34a", tension: 0.3 },
      ],
    },
    options: { responsive: true, interaction: { mode: "index", intersect: false } },
  });
})();
