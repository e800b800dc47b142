// exoderm: the little JavaScript the pages need. Everything works without it; it keeps use-by
// countdowns ticking between page loads, puts a filter box before long pickers and keeps Today's
// visit lines in step. Loaded with the page's CSP nonce.
(function () {
  "use strict";
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown-until]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.countdownUntil) - now) / 1000);
      if (left <= 0) {
        el.textContent = el.dataset.expiredText || "0:00:00";
        el.classList.add("expired");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = h + ":" + pad(m) + ":" + pad(s);
    });
  }

  // The folding of exoderm.patients.search: Müller, Mueller and Muller meet, Bauer stays Bauer.
  var LETTERS = { "ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i", "ħ": "h" };
  function fold(text) {
    var plain = text.toLowerCase().replace(/ß/g, "ss").replace(/[łøđðþæœıħ]/g, function (c) { return LETTERS[c]; })
      .normalize("NFKD").replace(/\p{M}/gu, "").replace(/['\u2019]/g, "");
    return plain.split(/[^0-9a-z]+/).filter(Boolean).map(function (word) {
      return word.replace(/(?<![aeiouyq])([aou])e/g, "$1");
    });
  }

  // A <select data-filter="label"> gets a search box before it: typing hides the options whose
  // text does not contain every typed word; Enter or the down arrow picks the first one shown.
  function filterable(select) {
    if (select.disabled || select.dataset.filterReady) { return; }
    select.dataset.filterReady = "1";
    var box = document.createElement("input");
    box.type = "search";
    box.className = "picker-filter";
    box.placeholder = box.title = select.dataset.filter;
    box.setAttribute("aria-label", select.dataset.filter);
    box.setAttribute("aria-controls", select.id);
    box.autocomplete = "off";
    select.parentNode.insertBefore(box, select);
    var options = Array.prototype.slice.call(select.options).map(function (option) {
      return { option: option, words: fold(option.text).join(" ") };
    });
    function firstShown() {
      for (var i = 0; i < options.length; i++) {
        if (!options[i].option.hidden && options[i].option.value) { return options[i].option; }
      }
      return null;
    }
    box.addEventListener("input", function () {
      var wanted = fold(box.value);
      options.forEach(function (entry) {
        entry.option.hidden = entry.option.value !== "" && !wanted.every(function (word) {
          return entry.words.indexOf(word) !== -1;
        });
      });
      var selected = select.options[select.selectedIndex];
      if (!selected || selected.hidden || !selected.value) {
        var first = firstShown();
        if (first) { first.selected = true; select.dispatchEvent(new Event("change", { bubbles: true })); }
      }
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === "ArrowDown") {
        event.preventDefault();  // Enter here picks a patient, it does not send the form
        var first = firstShown();
        if (first && event.key === "Enter") { first.selected = true; }
        select.focus();
      }
    });
  }
  function setUpFilters() { document.querySelectorAll("select[data-filter]").forEach(filterable); }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
    setUpFilters();
  });
  // A visit marked on one line of Today is marked on the page's other lines that hold it too (the
  // same visit is an appointment of today and a follow-up due): their buttons would act on a done visit.
  function markTwins(line) {
    if (!line || !line.classList || !line.classList.contains("visit-line-marked")) { return; }
    var marked = line.dataset.visits.split(" ");
    var badge = line.querySelector(".badge[role=status]");
    document.querySelectorAll("li.visit-line[data-visits]").forEach(function (other) {
      if (other === line || other.classList.contains("visit-line-marked")) { return; }
      var shared = other.dataset.visits.split(" ").some(function (id) { return marked.indexOf(id) !== -1; });
      var actions = other.querySelector(".visit-line-actions");
      if (!shared || !actions) { return; }
      other.classList.add("visit-line-marked");
      actions.replaceWith(badge.cloneNode(true));
    });
  }

  document.addEventListener("htmx:afterSwap", function () { tick(); setUpFilters(); });
  document.addEventListener("htmx:afterSettle", function (event) { markTwins(event.target); });
})();
