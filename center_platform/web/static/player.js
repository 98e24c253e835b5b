// The player page's retention panel: redemption and disputes are posted as JSON with the session's CSRF token.
"use strict";
(function () {
  const panel = document.getElementById("retention");
  if (!panel) { return; }
  const csrf = panel.dataset.csrf || "";
  panel.querySelectorAll("form.retention-action").forEach(function (form) {
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const box = document.getElementById("retention-error");
      const body = Object.fromEntries(new FormData(form).entries());
      const r = await fetch(form.dataset.url, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf}, body: JSON.stringify(body)});
      if (r.ok) { location.reload(); return; }
      const answer = await r.json().catch(() => ({error: "HTTP " + r.status}));
      box.textContent = answer.error || ("HTTP " + r.status);
      box.hidden = false;
    });
  });
})();
