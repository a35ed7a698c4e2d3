// Reward rule forms: show only the fields of the chosen formula (amount for a fixed
// reward, percent and cap for a percent), and add tier rows on demand.
(function () {
  function showFormula(root) {
    var checked = root.querySelector('input[name$="formula"]:checked');
    var formula = checked ? checked.value : "fixed";
    root.querySelectorAll("[data-formula]").forEach(function (field) {
      field.hidden = field.getAttribute("data-formula") !== formula;
    });
  }

  function addTier(root) {
    var total = root.querySelector('input[name$="tiers-TOTAL_FORMS"]');
    var rows = root.querySelectorAll("[data-tier-row]");
    if (!total || !rows.length) return;
    var index = parseInt(total.value, 10);
    var copy = rows[rows.length - 1].cloneNode(true);
    copy.querySelectorAll("input").forEach(function (input) {
      input.name = input.name.replace(/tiers-\d+-/, "tiers-" + index + "-");
      input.id = input.id.replace(/tiers-\d+-/, "tiers-" + index + "-");
      input.value = "";
    });
    copy.querySelectorAll(".error").forEach(function (error) { error.remove(); });
    rows[rows.length - 1].parentNode.appendChild(copy);
    total.value = index + 1;
  }

  function setUp(root) {
    showFormula(root);
    root.addEventListener("change", function (event) {
      if (event.target.name && /formula$/.test(event.target.name)) showFormula(root);
    });
    var add = root.querySelector("[data-add-tier]");
    if (add) add.addEventListener("click", function () { addTier(root); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rule-form]").forEach(setUp);
  });
})();
