// The before/after page: the wipe slider and the toggle between photos and overlays of what was
// measured. Without JavaScript the photos stay side by side and both controls stay hidden.
(function () {
  "use strict";
  const wipe = document.getElementById("compare-wipe");
  const frame = document.getElementById("compare-wipe-frame");
  const range = document.getElementById("compare-wipe-range");
  const controls = document.getElementById("compare-controls");
  const toggle = document.getElementById("compare-overlays");
  if (!wipe || !frame || !range || !controls || !toggle) return;

  function show() {
    frame.style.setProperty("--wipe", range.value + "%");
    range.setAttribute("aria-valuetext", range.value + " %");
  }
  range.addEventListener("input", show);
  show();
  wipe.hidden = false;

  toggle.addEventListener("change", function () {
    document.querySelectorAll("img[data-overlay]").forEach(function (img) {
      img.src = toggle.checked ? img.dataset.overlay : img.dataset.photo;
    });
  });
  controls.hidden = false;
})();
