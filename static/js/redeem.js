// The redeem confirmation step, enhanced: the figures follow the quantity (or donation) as it is typed, and
// "Confirm and redeem" is enabled only while the balance covers the cost. Without JavaScript the page's
// "Update total" button asks the server for the same figures; the server checks again when redeeming.
(function () {
  "use strict";
  var figures = document.querySelector(".redeem-figures");
  if (!figures) return;
  var form = document.querySelector("form[action] button[data-testid=redeem-confirm]");
  form = form && form.form;
  if (!form) return;
  var confirm = form.querySelector("button[data-testid=redeem-confirm]");
  var outcome = figures.querySelector("[data-redeem-outcome]");
  var costValue = figures.querySelector("[data-testid=redeem-cost]");
  var input = form.querySelector("input[name=quantity], input[name=points]");
  if (!input || !outcome || !costValue) return;
  var balance = parseInt(figures.dataset.balance, 10);
  var unit = parseInt(figures.dataset.unitCost, 10);
  var donation = figures.dataset.donation === "1";
  var otherRefusal = figures.dataset.otherRefusal === "1";
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function update() {
    var amount = parseInt(input.value, 10);
    if (!(amount > 0)) return;
    var cost = donation ? amount : unit * amount;
    var missing = cost - balance;
    costValue.textContent = numbers.format(cost);
    var value = outcome.querySelector(".stat-value");
    var label = outcome.querySelector(".stat-label");
    if (missing > 0) {
      outcome.className = "stat stat-warning";
      value.dataset.testid = "redeem-missing";
      value.textContent = numbers.format(missing);
      label.textContent = figures.dataset.labelMissing;
    } else {
      outcome.className = "stat stat-primary";
      value.dataset.testid = "redeem-after";
      value.textContent = numbers.format(-missing);
      label.textContent = figures.dataset.labelAfter;
    }
    confirm.disabled = otherRefusal || missing > 0;
  }

  input.addEventListener("input", update);
})();
