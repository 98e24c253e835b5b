// Branch admin: supplementary recordings to approve or reject, and the import of a recording made on
// another device. Loaded after admin.js, whose sign-in check sets state.csrf.
"use strict";

const SUPP_STATE = {pending: "待审批 pending", approved: "已批准 approved", rejected: "已驳回 rejected"};

function suppRow(c) {
  const tag = c.state === "approved" ? "ok" : c.state === "rejected" ? "bad" : "warn";
  const decided = c.state === "pending" && !c.decided_by
    ? `<input class="supp-reason" maxlength="500" placeholder="审批意见 Reason" aria-label="审批意见 Reason">
       <button class="btn small" type="button" data-decide="approved">批准 Approve</button>
       <button class="btn small grey" type="button" data-decide="rejected">驳回 Reject</button>`
    : `${esc(c.decided_by || "")} ${esc(c.decision_reason || "")}`;
  return `<tr data-clip="${esc(c.clip_id)}"><td>${esc(c.sale_local)}</td><td>${esc(c.recorded_local)}</td><td>${esc(c.business_serial)}</td>
    <td>${esc(c.staff_code)}</td><td>${esc(c.customer_name)}</td><td>${esc(c.product_name)}</td><td>${esc(c.why)}</td>
    <td><span class="tag ${tag}">${esc(SUPP_STATE[c.state] || c.state)}</span>${c.center_note ? `<br><span class="hint">${esc(c.center_note)}</span>` : ""}</td>
    <td>${decided}</td></tr>`;
}

async function loadSupplementary() {
  const r = await api("GET", "/api/admin/supplementary", null, true);
  if (!r.ok) { $("supp_result").textContent = r.data.error || ""; return; }
  $("supp_rows").innerHTML = r.data.clips.map(suppRow).join("");
  $("supp_empty").textContent = r.data.clips.length ? "" : "没有事后补录 · no supplementary recordings";
}

async function decideSupplementary(ev) {
  const btn = ev.target.closest("button[data-decide]");
  if (!btn) return;
  const row = btn.closest("tr");
  const reason = row.querySelector(".supp-reason").value.trim();
  const r = await api("POST", `/api/admin/supplementary/${row.dataset.clip}/decision`, {decision: btn.dataset.decide, reason});
  $("supp_result").textContent = r.ok ? "已审批 · decided" : (r.data.error || "");
  if (r.ok) loadSupplementary();
}

async function fillImportChoices() {
  const [p, s] = await Promise.all([api("GET", "/api/products", null, true), api("GET", "/api/status", null, true)]);
  if (p.ok) $("imp_product").innerHTML = p.data.products.map(x => `<option value="${esc(x.code)}">${esc(x.code)} ${esc(x.name)}</option>`).join("");
  if (s.ok) $("imp_counter").innerHTML = s.data.counters.map(c => `<option value="${esc(c.code)}">${esc(c.code)} ${esc(c.name)}</option>`).join("");
}

async function submitImport(ev) {
  ev.preventDefault();
  const form = ev.target;
  form.querySelectorAll(".field-err").forEach(e => { e.textContent = ""; });
  $("imp_result").textContent = "上传并检查中… · uploading and checking…";
  $("imp_submit").disabled = true;
  let r;
  try {
    r = await fetch("/api/admin/imports", {method: "POST", body: new FormData(form), headers: {"X-CSRF-Token": state.csrf},
                                           credentials: "same-origin"});
  } catch (e) {
    r = null;
  }
  $("imp_submit").disabled = false;
  if (!r) { $("imp_result").textContent = "无法连接本机服务 / cannot reach the branch agent"; return; }
  const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : {};
  if (r.ok) {
    $("imp_result").textContent = `已导入，待上传 · imported, queued for upload: ${data.business_serial} (${clock(data.duration_ms)})`;
    form.reset();
    return;
  }
  $("imp_result").textContent = data.error || `HTTP ${r.status}`;
  for (const [name, message] of Object.entries(data.fields || {})) {
    const slot = form.querySelector(`[data-err="${name}"]`);
    if (slot) slot.textContent = message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("supp_rows").addEventListener("click", decideSupplementary);
  $("import_form").addEventListener("submit", submitImport);
  setTimeout(() => { loadSupplementary(); fillImportChoices(); }, 300);
  setInterval(loadSupplementary, 60000);
});
