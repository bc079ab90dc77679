// The console's only script (Content-Security-Policy: script-src 'self'; no inline script).
// A form marked data-once disables its buttons once sent, so a double click sends it once; the
// server does not rely on it: a form's idempotency key makes a second submit replay the first.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) {
    return;
  }
  // After this turn: buttons disabled now would drop out of the data being sent.
  window.setTimeout(function () {
    form.querySelectorAll("button").forEach(function (button) { button.disabled = true; });
  }, 0);
});
