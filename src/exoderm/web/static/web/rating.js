// exoderm: the rater's keyboard. On the rating page (a <form data-rating>), the number keys choose
// an answer of the question in focus and move on to the next question; Enter saves (the server
// then opens the next task). Everything works without it: the answers are plain radio buttons.
// Loaded with the page's CSP nonce.
(function () {
  "use strict";

  function setUp(form) {
    var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-question]"));
    if (!questions.length) { return; }
    var active = 0;

    function show(index) {
      active = Math.max(0, Math.min(index, questions.length - 1));
      questions.forEach(function (question, i) {
        question.classList.toggle("active", i === active);
      });
    }

    function choose(number) {
      var options = questions[active].querySelectorAll("input[type=radio]");
      var option = options[number - 1];
      if (!option) { return; }
      option.checked = true;
      option.dispatchEvent(new Event("change", { bubbles: true }));
      show(active + 1);
    }

    questions.forEach(function (question, i) {
      question.addEventListener("focusin", function () { show(i); });
      question.addEventListener("click", function () { show(i); });
    });

    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) { return; }
      var target = event.target;
      if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) {
        return;  // typing a note: the keys are the note's
      }
      if (/^[1-9]$/.test(event.key)) {
        event.preventDefault();
        choose(parseInt(event.key, 10));
      } else if (event.key === "Enter" && !(target && (target.tagName === "BUTTON" || target.tagName === "A"))) {
        event.preventDefault();
        form.requestSubmit();
      } else if (event.key === "ArrowUp" || event.key === "Backspace") {
        if (target && target.tagName === "INPUT" && event.key === "ArrowUp") { return; }  // the radios' own arrows
        event.preventDefault();
        show(active - 1);
      }
    });
    show(0);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-rating]").forEach(setUp);
  });
})();
