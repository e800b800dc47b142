// exoderm: the little JavaScript the pages need. Everything works without it; it only keeps
// use-by countdowns ticking between page loads. Loaded with the page's CSP nonce.
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
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
