// The Njia console's one script. Everything works without it; it adds the phone's keypad,
// keyboard shortcuts and hops without a page reload. No inline script anywhere: the CSP
// allows only this file.
"use strict";
document.documentElement.classList.add("js");

function phoneInput() {
  return document.getElementById("phone-input");
}

// The keypad types into the reply field; ⌫ deletes.
document.addEventListener("click", function (ev) {
  var key = ev.target.closest && ev.target.closest("[data-key]");
  if (!key) return;
  var input = phoneInput();
  if (!input) return;
  if (key.dataset.key === "back") input.value = input.value.slice(0, -1);
  else input.value += key.dataset.key;
  input.focus();
});

// Escape clears the reply; "/" jumps to it from anywhere on the page.
document.addEventListener("keydown", function (ev) {
  var input = phoneInput();
  if (!input) return;
  if (ev.key === "Escape" && document.activeElement === input) input.value = "";
  if (ev.key === "/" && document.activeElement.tagName !== "INPUT" && document.activeElement.tagName !== "SELECT") {
    ev.preventDefault();
    input.focus();
  }
});

// A form marked data-enhance posts in the background (with its CSRF token as a header too)
// and the page's main content is replaced by the answer: the phone keeps focus, no reload.
document.addEventListener("submit", function (ev) {
  var form = ev.target;
  if (!form.matches || !form.matches("form[data-enhance]") || !window.fetch) return;
  ev.preventDefault();
  var body = new URLSearchParams(new FormData(form));
  fetch(form.action, {
    method: "POST",
    body: body,
    credentials: "same-origin",
    headers: { "X-CSRF-Token": form.elements.csrf ? form.elements.csrf.value : "" }
  }).then(function (r) {
    return r.text().then(function (html) { return { url: r.url, html: html }; });
  }).then(function (got) {
    var doc = new DOMParser().parseFromString(got.html, "text/html");
    var fresh = doc.querySelector("main");
    if (!fresh) { window.location.assign(got.url); return; }
    document.querySelector("main").replaceWith(fresh);
    var input = phoneInput();
    if (input) input.focus();
  // On a failure the page is loaded again, never the form posted again: the hop may have
  // reached the server, and a second post would send the input twice.
  }).catch(function () { window.location.assign(window.location.href); });
});
