// The capture section: guide of the chosen view, preview of the chosen file (an object URL, never
// uploaded for it) under the previous photo of the view as a ghost, and the camera on touch devices.
// The check before upload is plain HTMX (hx-post on the file input); loaded with the CSP nonce.
(function () {
  "use strict";
  function setup(form) {
    var ghosts = JSON.parse(document.getElementById("capture-ghosts").textContent);
    var view = form.querySelector("#id_view");
    var area = form.querySelector("#id_area");
    var file = form.querySelector("#id_file");
    var preview = document.getElementById("capture-preview");
    var ghost = document.getElementById("capture-ghost");
    var strength = document.getElementById("capture-ghost-opacity");
    var url = null;
    if (window.matchMedia("(pointer: coarse)").matches) {
      file.setAttribute("capture", "environment");  // phones and tablets: straight to the camera
    }
    function update() {
      document.querySelectorAll("[data-guide]").forEach(function (el) {
        el.toggleAttribute("hidden", el.dataset.guide !== view.value);
      });
      var src = ghosts[view.value + "|" + (view.value === "close_up" ? area.value : "")];
      if (src) {
        if (ghost.getAttribute("src") !== src) { ghost.src = src; }
      } else {
        ghost.removeAttribute("src");
      }
      ghost.hidden = !src;
    }
    file.addEventListener("change", function () {
      if (url) { URL.revokeObjectURL(url); }
      var chosen = file.files && file.files[0];
      url = chosen ? URL.createObjectURL(chosen) : null;
      if (url) { preview.src = url; } else { preview.removeAttribute("src"); }
      preview.hidden = !url;
    });
    preview.addEventListener("error", function () { preview.hidden = true; });  // HEIC, TIFF: no preview
    strength.addEventListener("input", function () { ghost.style.opacity = strength.value / 100; });
    view.addEventListener("change", update);
    area.addEventListener("change", update);
    update();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("capture-form");
    if (form) { setup(form); }
  });
  // A refused file answers 422 with the reason: show it where the check result goes.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "capture-check" && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
