/* The signature pad of the consent tablet page: a finger, pen or mouse draws on a canvas through
   pointer events; "Undo" takes the last stroke back, "Clear" all of them. On submit the drawing
   goes into the hidden field as a PNG data URL (transparent background, dark ink), which the server
   checks (a real PNG, not too large, not blank). Written for exoderm, no library, no network. */
(function () {
  "use strict";

  function setUp(pad) {
    var canvas = pad.querySelector("canvas");
    var form = pad.closest("form");
    var field = form.querySelector("input[name='" + pad.dataset.field + "']");
    var undoButton = pad.querySelector("[data-pad-undo]");
    var clearButton = pad.querySelector("[data-pad-clear]");
    var status = pad.querySelector("[data-pad-status]");
    var context = canvas.getContext("2d");
    var strokes = [];
    var current = null;

    // the canvas's pixels follow its shown size and the screen's density, so lines stay sharp
    function resize() {
      var ratio = Math.max(window.devicePixelRatio || 1, 1);
      var box = canvas.getBoundingClientRect();
      canvas.width = Math.round(box.width * ratio);
      canvas.height = Math.round(box.height * ratio);
      context.setTransform(ratio, 0, 0, ratio, 0, 0);
      redraw();
    }

    function point(event) {
      var box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    }

    function drawStroke(stroke) {
      context.lineWidth = 2.5;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#111827";
      context.fillStyle = "#111827";
      if (stroke.length === 1) {
        context.beginPath();
        context.arc(stroke[0].x, stroke[0].y, 1.5, 0, 2 * Math.PI);
        context.fill();
        return;
      }
      context.beginPath();
      context.moveTo(stroke[0].x, stroke[0].y);
      for (var i = 1; i < stroke.length; i++) {
        context.lineTo(stroke[i].x, stroke[i].y);
      }
      context.stroke();
    }

    function redraw() {
      context.clearRect(0, 0, canvas.width, canvas.height);
      strokes.forEach(drawStroke);
      var empty = strokes.length === 0;
      undoButton.disabled = empty;
      clearButton.disabled = empty;
      pad.classList.toggle("signed", !empty);
      if (status) {
        status.textContent = empty ? status.dataset.empty : status.dataset.signed;
      }
    }

    canvas.addEventListener("pointerdown", function (event) {
      if (event.button !== undefined && event.button > 0) return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = [point(event)];
      strokes.push(current);
      redraw();
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!current) return;
      event.preventDefault();
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      if (events.length === 0) events = [event];
      events.forEach(function (each) { current.push(point(each)); });
      redraw();
    });
    function end(event) {
      if (!current) return;
      current = null;
      if (canvas.hasPointerCapture(event.pointerId)) canvas.releasePointerCapture(event.pointerId);
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    undoButton.addEventListener("click", function () { strokes.pop(); redraw(); });
    clearButton.addEventListener("click", function () { strokes = []; redraw(); });

    form.addEventListener("submit", function (event) {
      if (strokes.length === 0) {
        event.preventDefault();
        pad.classList.add("has-error");
        if (status) status.textContent = status.dataset.required;
        canvas.focus();
        return;
      }
      field.value = canvas.toDataURL("image/png");
    });

    window.addEventListener("resize", resize);
    resize();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-signature-pad]").forEach(setUp);
  });
})();
