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

// Keyboard focus. htmx keeps focus on an element it swaps out only when the new content has
// an element with the same id (the view tab links do); a button or a folded form that goes
// away would otherwise drop focus to <body>, and screen readers lose their place.
(function () {
  "use strict";
  var FIELDS = "input:not([type=hidden]), textarea, select";

  function errorField(root) {
    return root.querySelector(".usa-form-group--error :is(" + FIELDS + ")");
  }

  function firstField(root) {
    return errorField(root) || root.querySelector(FIELDS);
  }

  function focusLost() {
    return !document.activeElement || document.activeElement === document.body;
  }

  // The portal's "Add note" and friends hide their summary once open: go to the first field.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches("details.cwp-add") || !details.open) {
      return;
    }
    if (focusLost() || details.contains(document.activeElement)) {
      var field = firstField(details);
      if (field) {
        field.focus();
      }
    }
  }, true);

  // After a swap that removed the focused element: the first field with an error, else the
  // notice the server sent ("Note added."), else the open view tab.
  // Remembered by id, so that a poll swapping elsewhere in between does not interfere.
  var hadFocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && target.id && target.contains(document.activeElement)) {
      hadFocus = target.id;
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var region = event.target;
    if (!hadFocus || !region || region.id !== hadFocus) {
      return;
    }
    hadFocus = null;
    if (!focusLost()) {
      return;
    }
    var next = errorField(region);
    if (!next) {
      next = region.querySelector("[role=status], [role=alert]");
      if (next) {
        next.setAttribute("tabindex", "-1");
      }
    }
    next = next || region.querySelector("[aria-current=page]") || region;
    if (next === region && !region.hasAttribute("tabindex")) {
      region.setAttribute("tabindex", "-1");
    }
    next.focus();
  });

  // A view that answers 404 in place (the case is no longer yours: removed from the Case
  // Team, consent withdrawn or expired) leaves nothing stale on screen: the portal goes to
  // My Cases, which says why access ended; elsewhere the whole page shows the answer.
  document.addEventListener("htmx:responseError", function (event) {
    var detail = event.detail || {};
    var verb = (detail.requestConfig && detail.requestConfig.verb) || "get";
    if (!detail.xhr || detail.xhr.status !== 404 || verb.toLowerCase() !== "get") {
      return;
    }
    var home = document.body.getAttribute("data-home");
    window.location.assign(home || detail.pathInfo.requestPath);
  });
})();
