// Caseworks behaviour that needs script: confirmations on state-changing buttons.
// Loaded as a file so that the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });
})();

// Agency workspace: controls that only work with script (the partner search box) are
// hidden in the page and shown here, also inside fragments htmx swaps in later.
(function () {
  "use strict";
  function reveal(root) {
    if (!root || !root.querySelectorAll) {
      return;
    }
    var hidden = root.querySelectorAll("[data-js-only][hidden]");
    for (var i = 0; i < hidden.length; i++) {
      hidden[i].hidden = false;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    reveal(document);
  });
  document.addEventListener("htmx:load", function (event) {
    reveal(event.detail && event.detail.elt);
  });
})();
