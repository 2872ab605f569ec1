/* Progressive enhancement for the session page: live values and totals, hand-over mode,
   and saving without a page reload. Everything works without this file. */
(function () {
  "use strict";

  function formatScore(value) {
    return (Math.round(value * 10) / 10).toFixed(1);
  }

  function updateTotals(form) {
    var total = 0;
    form.querySelectorAll('input[type="range"]').forEach(function (range) {
      var output = form.querySelector('output[for="' + range.id + '"]');
      if (output) { output.textContent = formatScore(parseFloat(range.value)); }
      total += parseFloat(range.value);
    });
    var totalOnly = form.querySelector('input[type="number"]');
    if (totalOnly && totalOnly.value !== "") { total = parseFloat(totalOnly.value); }
    var live = form.querySelector("output.live-total");
    if (live && !isNaN(total)) { live.textContent = formatScore(total); }
  }

  function setHandover(on) {
    document.body.classList.toggle("handover", on);
    var first = on ? document.querySelector('.instrument input[type="range"]') : document.querySelector("#results-heading");
    if (first) { first.focus(); }
  }

  function bind(root) {
    root.querySelectorAll("form.instrument-form").forEach(function (form) {
      form.addEventListener("input", function () { updateTotals(form); });
    });
    root.querySelectorAll("form[data-handover]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        setHandover(form.dataset.handover === "on");
      });
    });
    root.querySelectorAll("form[data-fetch]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        submitWithoutReload(form);
      });
    });
  }

  function submitWithoutReload(form) {
    var container = document.getElementById("session-live");
    var button = form.querySelector('button[type="submit"]');
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin"
    }).then(function (response) {
      return response.text().then(function (html) { return { ok: response.ok, html: html }; });
    }).then(function (result) {
      container.innerHTML = result.html;
      bind(container);
      var target = container.querySelector(result.ok ? "#results-heading" : ".error");
      if (target && !document.body.classList.contains("handover")) {
        target.setAttribute("tabindex", "-1");
        target.focus();
      }
    }).catch(function () {
      // Network trouble: fall back to an ordinary form post.
      form.removeAttribute("data-fetch");
      form.submit();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.getElementById("session-live");
    if (container) { bind(container); }
  });
})();
