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
  const text = source.value !== undefined ? source.value : source.textContent;
  const done = function () {
    button.textContent = button.dataset.copiedLabel || button.textContent;
    button.classList.add("copied");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {
      source.select();
    });
  } else {
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
