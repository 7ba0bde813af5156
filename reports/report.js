(function () {
  "use strict";
  var nav = document.getElementById("filters");
  if (!nav) { return; }
  nav.hidden = false;
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr.finding"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.rule"));
  var severity = document.getElementById("f-severity");
  var outcome = document.getElementById("f-outcome");
  var rule = document.getElementById("f-rule");
  var text = document.getElementById("f-text");
  var count = document.getElementById("f-count");

  function apply() {
    var s = severity.value, o = outcome.value, r = rule.value, t = text.value.trim().toLowerCase();
    var shown = 0;
    rows.forEach(function (row) {
      var ok = (!s || row.getAttribute("data-severity") === s) &&
        (!o || row.getAttribute("data-outcome") === o) &&
        (!r || row.getAttribute("data-rule") === r) &&
        (!t || row.getAttribute("data-text").indexOf(t) !== -1);
      row.hidden = !ok;
      if (ok) { shown += 1; }
    });
    var filtering = Boolean(s || o || r || t);
    sections.forEach(function (section) {
      var matches = section.querySelector("tr.finding:not([hidden])") !== null;
      section.hidden = filtering && !matches && section.getAttribute("data-rule") !== r;
    });
    count.textContent = shown + " of " + rows.length + " findings shown";
  }
  [severity, outcome, rule].forEach(function (el) { el.addEventListener("change", apply); });
  text.addEventListener("input", apply);
  apply();

  function key(cell) {
    var sort = cell.getAttribute("data-sort");
    var value = sort !== null ? sort : cell.textContent.trim();
    var number = Number(value);
    return value !== "" && !isNaN(number) ? number : value.toLowerCase();
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable th"), function (th) {
    th.tabIndex = 0;
    function sort() {
      var table = th.closest("table");
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(th.parentNode.children, function (other) { other.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var sorted = Array.prototype.slice.call(body.rows).sort(function (a, b) {
        var x = key(a.cells[index]), y = key(b.cells[index]);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      sorted.forEach(function (row) { body.appendChild(row); });
    }
    th.addEventListener("click", sort);
    th.addEventListener("keydown", function (event) { if (event.key === "Enter") { sort(); } });
  });
  window.addEventListener("beforeprint", function () {
    Array.prototype.forEach.call(document.querySelectorAll("details:not(.full)"), function (d) { d.open = true; });
  });
}());
