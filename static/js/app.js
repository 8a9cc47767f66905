// Small page behaviours. No inline scripts anywhere: the CSP allows only files from this site.
"use strict";

// Copy buttons: <button data-copy-target="element-id" data-copied-label="Copied">.
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-copy-target]");
  if (!button) {
    return;
  }
  const source = document.getElementById(button.dataset.copyTarget);
  if (!source) {
    return;
  }
  const text = source.value !== undefined ? source.value : source.textContent.trim();
  const done = function () {
    button.textContent = button.dataset.copiedLabel || button.textContent;
    button.classList.add("copied");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {
      if (source.select) {
        source.select();
      }
    });
  } else if (source.select) {
    // Plain http on another host: select the text so Ctrl-C works, and try the old command.
    source.select();
    if (document.execCommand && document.execCommand("copy")) {
      done();
    }
  }
});

// Selecting the secret field selects the whole key.
document.addEventListener("focusin", function (event) {
  if (event.target.matches && event.target.matches("input.secret")) {
    event.target.select();
  }
});

// Times in the viewer's own time zone and language: <time datetime="…" data-local>.
function localTimes(root) {
  const language = document.documentElement.lang || undefined;
  root.querySelectorAll("time[data-local]").forEach(function (element) {
    const moment = new Date(element.getAttribute("datetime"));
    if (isNaN(moment)) {
      return;
    }
    element.title = element.textContent.trim();
    element.textContent = moment.toLocaleString(language, {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZoneName: "short",
    });
  });
}
document.addEventListener("DOMContentLoaded", function () {
  localTimes(document);
});

// Confirmations in a dialog. A link with hx-get loads the confirmation page's #confirm part into
// #confirm-dialog; it opens as a modal with the harmless choice focused, and Cancel (or Escape)
// closes it and puts focus back on the button that opened it.
let dialogOpener = null;

document.addEventListener("htmx:afterSwap", function (event) {
  const dialog = event.detail.target;
  if (!dialog || dialog.id !== "confirm-dialog") {
    localTimes(document);
    return;
  }
  dialogOpener = event.detail.requestConfig ? event.detail.requestConfig.elt : null;
  if (!dialog.querySelector("[data-dialog-cancel]")) {
    // Not a question (the session ended, a login page came back): go where the link leads.
    if (dialogOpener && dialogOpener.href) {
      window.location.href = dialogOpener.href;
    }
    return;
  }
  if (!dialog.open) {
    dialog.showModal();
  }
  const cancel = dialog.querySelector("[data-dialog-cancel]");
  if (cancel) {
    cancel.focus();
  }
});

document.addEventListener("click", function (event) {
  const cancel = event.target.closest("#confirm-dialog [data-dialog-cancel]");
  if (cancel) {
    event.preventDefault();
    cancel.closest("dialog").close();
  }
});

document.addEventListener("close", function (event) {
  const dialog = event.target;
  if (dialog.id !== "confirm-dialog") {
    return;
  }
  dialog.replaceChildren();
  if (dialogOpener && dialogOpener.isConnected) {
    dialogOpener.focus();
  }
  dialogOpener = null;
}, true);

// Focus after an in-page update of #main: back on the control the person used (a role picker
// keeps its id), or on the banner that says what happened when that control is gone.
let focusedId = null;

document.addEventListener("htmx:beforeRequest", function () {
  const active = document.activeElement;
  const dialog = document.getElementById("confirm-dialog");
  if (dialog && dialog.contains(active)) {
    focusedId = dialogOpener && dialogOpener.id ? dialogOpener.id : null;
  } else {
    focusedId = active && active.id ? active.id : null;
  }
});

document.addEventListener("htmx:afterSettle", function (event) {
  const main = document.getElementById("main");
  if (!main || !main.contains(event.detail.elt) && event.detail.target.id !== "main") {
    return;
  }
  const dialog = document.getElementById("confirm-dialog");
  if (dialog && dialog.open) {
    dialogOpener = null;
    dialog.close();
  }
  const banner = document.getElementById("messages");
  const live = document.getElementById("live-region");
  if (banner && live) {
    live.textContent = banner.textContent.trim();
  }
  const previous = focusedId ? document.getElementById(focusedId) : null;
  if (previous && main.contains(previous)) {
    previous.focus();
  } else if (banner) {
    banner.focus();
  } else {
    main.focus();
  }
  focusedId = null;
});

// "Show the passwords": <input type="checkbox" data-reveal="form-id"> shows what was typed.
document.addEventListener("change", function (event) {
  const box = event.target;
  if (!box.matches || !box.matches("[data-reveal]")) {
    return;
  }
  const form = document.getElementById(box.dataset.reveal);
  if (form) {
    form.querySelectorAll("input[data-revealable], input[type=password]").forEach(function (input) {
      input.dataset.revealable = "true";
      input.type = box.checked ? "text" : "password";
    });
  }
});

// A form sent back with errors: focus goes to the first field in error (Django marks it
// aria-invalid), so the person lands where the message is rather than at the top of the page.
document.addEventListener("DOMContentLoaded", function () {
  const invalid = document.querySelector("main [aria-invalid=true]");
  if (invalid) {
    invalid.focus();
  }
});
