// exoderm appointment book: move an appointment in the day or week grid by keyboard or by drag
// (mouse, pen or finger). Without this script every appointment is a link to its page, which moves
// it by form. A move is posted to the appointment's move address; the server answers the grid
// again (moved, or unchanged with the reason), which replaces the old one.
(function () {
  "use strict";
  var SLOT_MINUTES = 15;
  var DRAG_THRESHOLD = 6;

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"] || ""; } catch (e) { return ""; }
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function gridOf(el) { return el.closest(".bk-grid"); }
  function columns(grid) { return grid.dataset.columns.split(","); }
  function rows(grid) { return parseInt(grid.dataset.rows, 10); }

  function setClass(el, prefix, value) {
    el.className = el.className.split(/\s+/).filter(function (name) {
      return !(name.indexOf(prefix) === 0 && /^\d+$/.test(name.slice(prefix.length)));
    }).concat([prefix + value]).join(" ");
  }
  function place(el, row, col) {
    el.dataset.pendingRow = row;
    el.dataset.pendingCol = col;
    setClass(el, "bk-r", row);
    setClass(el, "bk-c", col);
  }
  function wallTime(grid, row) {
    var first = grid.dataset.first.split(":");
    var minutes = parseInt(first[0], 10) * 60 + parseInt(first[1], 10) + (row - 1) * SLOT_MINUTES;
    return pad(Math.floor(minutes / 60)) + ":" + pad(minutes % 60);
  }
  function columnTitle(grid, col) {
    var head = grid.querySelector("#bk-head-" + col);
    return head ? head.textContent.trim() : "";
  }
  function announce(text) {
    var live = document.getElementById("bk-live");
    if (live) { live.textContent = text; }
  }

  function start(el) {
    if (el.dataset.pendingRow) { return; }
    el.classList.add("bk-pending");
    place(el, parseInt(el.dataset.row, 10), parseInt(el.dataset.col, 10));
  }
  function revert(el) {
    el.classList.remove("bk-pending", "bk-dragging");
    setClass(el, "bk-r", el.dataset.row);
    setClass(el, "bk-c", el.dataset.col);
    delete el.dataset.pendingRow;
    delete el.dataset.pendingCol;
  }
  function shift(el, rowsBy, colsBy) {
    var grid = gridOf(el);
    start(el);
    var span = parseInt(el.dataset.span, 10);
    var row = Math.min(Math.max(1, parseInt(el.dataset.pendingRow, 10) + rowsBy), rows(grid) - span + 1);
    var col = Math.min(Math.max(1, parseInt(el.dataset.pendingCol, 10) + colsBy), columns(grid).length);
    place(el, row, col);
    announce(wallTime(grid, row) + ", " + columnTitle(grid, col));
  }

  function commit(el) {
    var grid = gridOf(el);
    var row = parseInt(el.dataset.pendingRow, 10), col = parseInt(el.dataset.pendingCol, 10);
    if (row === parseInt(el.dataset.row, 10) && col === parseInt(el.dataset.col, 10)) { revert(el); return; }
    var body = new URLSearchParams(grid.dataset.context);
    var key = columns(grid)[col - 1];
    var day = grid.dataset.view === "week" ? key : grid.dataset.date;
    body.set("starts_at", day + "T" + wallTime(grid, row));
    if (grid.dataset.view === "day") { body.set("column", key); }
    var id = el.dataset.appointment;
    var url = grid.dataset.moveUrl.replace(/\/1\/move\/$/, "/" + id + "/move/");
    var wrap = grid.closest(".bk-wrap");
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), "X-Booking-Grid": "1", "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector(".bk-wrap");
      wrap.replaceWith(fresh);
      var moved = fresh.querySelector('[data-appointment="' + id + '"]');
      if (moved) { moved.focus(); }
      var notice = fresh.querySelector(".notice");
      if (notice) { announce(notice.textContent.trim()); }
    }).catch(function () { revert(el); announce(""); });
  }

  document.addEventListener("keydown", function (event) {
    var el = event.target.closest && event.target.closest(".bk-appt[data-appointment]");
    if (!el || event.altKey || event.ctrlKey || event.metaKey) { return; }
    var moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (moves[event.key]) {
      event.preventDefault();
      shift(el, moves[event.key][0], moves[event.key][1]);
    } else if (event.key === "Enter" && el.dataset.pendingRow) {
      event.preventDefault();  // saves the move instead of opening the appointment
      commit(el);
    } else if (event.key === "Escape" && el.dataset.pendingRow) {
      event.preventDefault();
      revert(el);
    }
  });

  // Dragging with pointer events works for mouse, pen and touch alike (HTML drag and drop does not
  // on tablets). The appointment snaps to the slot and column under the pointer while it moves.
  var drag = null;
  document.addEventListener("pointerdown", function (event) {
    var el = event.target.closest && event.target.closest(".bk-appt[data-appointment]");
    if (!el || event.button !== 0) { return; }
    drag = { el: el, x: event.clientX, y: event.clientY, moving: false };
  });
  document.addEventListener("pointermove", function (event) {
    if (!drag) { return; }
    if (!drag.moving) {
      if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < DRAG_THRESHOLD) { return; }
      drag.moving = true;
      drag.el.setPointerCapture && drag.el.setPointerCapture(event.pointerId);
      start(drag.el);
      drag.el.classList.add("bk-dragging");
    }
    event.preventDefault();
    var grid = gridOf(drag.el);
    var target = null;
    grid.querySelectorAll(".bk-col").forEach(function (col) {
      var box = col.getBoundingClientRect();
      if (event.clientX >= box.left && event.clientX < box.right) { target = { col: col, box: box }; }
    });
    if (!target) { return; }
    var rowHeight = target.box.height / rows(grid);
    var span = parseInt(drag.el.dataset.span, 10);
    var grabbed = drag.grabOffset;
    if (grabbed === undefined) {
      grabbed = drag.grabOffset = Math.floor((drag.y - drag.el.getBoundingClientRect().top) / rowHeight);
    }
    var row = Math.floor((event.clientY - target.box.top) / rowHeight) + 1 - grabbed;
    row = Math.min(Math.max(1, row), rows(grid) - span + 1);
    place(drag.el, row, parseInt(target.col.dataset.index, 10));
  });
  document.addEventListener("pointerup", function () {
    if (!drag) { return; }
    var finished = drag;
    drag = null;
    if (finished.moving) {
      finished.el.classList.remove("bk-dragging");
      // the click that ends a drag does not open the appointment
      finished.el.addEventListener("click", function (e) { e.preventDefault(); }, { once: true });
      commit(finished.el);
    }
  });
  document.addEventListener("pointercancel", function () {
    if (drag && drag.moving) { revert(drag.el); }
    drag = null;
  });
})();
