// The counter screen: sign in, sale form, recording with live preview and teleprompter, today's replay.
"use strict";
const FIELDS = ["business_serial", "customer_name", "id_type", "id_number", "card_number", "product_code", "consent",
  "earlier_clip_id", "sale_time", "supplementary_reason"];
const SALE_FIELDS = ["business_serial", "customer_name", "id_type", "id_number", "card_number", "product_code"];
const MARKER_TEXT = {risk_disclosed: "风险揭示已宣读 Risk disclosure read", customer_confirmed: "客户已确认 Customer confirmed", signed: "客户已签字 Signed"};
let products = [], rec = null, statusTimer = null, previewOn = false, tickTimer = null, verdictTimer = null, lastSale = null;
const prompt = {speed: 24, paused: false, pos: 0, last: 0};

const counter = () => $("counter").value;

async function showSignedIn(me) {
  state.me = me; state.csrf = me.csrf_token;
  if (me.role === "branch_admin") { location.href = "/admin"; return; }
  $("who").textContent = `${me.name}（${me.staff_code}）`;
  for (const id of ["logout_btn", "counter_box", "workspace"]) $(id).classList.remove("hidden");
  $("login_card").classList.add("hidden");
  // The catalogue first: a recording resumed after a reload needs its product's disclosure script.
  await loadProducts(); loadClips(); startPolling();
}
state.onSignedOut = () => {
  // The form stays filled: signing in again continues where the manager was.
  stopPolling();
  $("workspace").classList.add("hidden"); $("logout_btn").classList.add("hidden"); $("counter_box").classList.add("hidden");
  $("cam_problems").classList.add("hidden");
  $("who").textContent = ""; $("login_card").classList.remove("hidden");
  $("login_err").textContent = "会话已超时，请重新登录 / session timed out, please sign in again";
  $("password").value = ""; $("password").focus();
};

function setFieldErrors(container, fields) {
  container.querySelectorAll(".field").forEach(f => { f.classList.remove("bad"); const e = f.querySelector(".err"); if (e) e.textContent = ""; });
  for (const [name, msg] of Object.entries(fields || {})) {
    const f = container.querySelector(`.field[data-field="${name}"]`);
    if (f) { f.classList.add("bad"); f.querySelector(".err").textContent = msg; }
  }
  const first = container.querySelector(".field.bad input, .field.bad select");
  if (first) first.focus();
}

$("login_form").onsubmit = async ev => {
  ev.preventDefault();
  $("login_err").textContent = "";
  const r = await api("POST", "/api/session", {staff_code: $("staff_code").value.trim(), password: $("password").value});
  setFieldErrors($("login_form"), r.data.fields);
  if (!r.ok) { $("login_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  $("password").value = "";
  showSignedIn(r.data);
};
$("logout_btn").onclick = signOut;

async function loadProducts() {
  const r = await api("GET", "/api/products");
  if (!r.ok) return;
  products = r.data.products || [];
  const keep = $("product_code").value;
  $("product_code").innerHTML = `<option value="">— 请选择 choose —</option>` + products.map(p =>
    `<option value="${esc(p.code)}">${esc(p.name)} · ${esc(p.type_name)} · ${esc(p.risk_level)}</option>`).join("");
  $("product_code").value = keep;
  showProductInfo();
}
function showProductInfo() {
  const p = products.find(x => x.code === $("product_code").value);
  $("product_info").textContent = p ? `${p.type_name} · 期限 term ${p.term_days ? p.term_days + " 天 days" : "开放式 open-ended"} · 风险等级 risk ${p.risk_level}` : "";
}
$("product_code").onchange = showProductInfo;
$("gen_serial").onclick = async () => {
  const r = await api("GET", "/api/serials/new");
  if (r.ok) $("business_serial").value = r.data.business_serial;
};

// How this take comes about: the sale's own recording, a second one after the first failed its check
// (the first is kept as evidence), or one made after the sale (补录).
function takeOrigin() {
  if ($("supplementary").checked) return "supplementary";
  return $("earlier_clip_id").value ? "re_recorded" : "recorded";
}
$("supplementary").onchange = () => $("supplementary_fields").classList.toggle("hidden", !$("supplementary").checked);
function clearTakeOrigin() {
  $("earlier_clip_id").value = ""; $("supplementary").checked = false; $("supplementary_fields").classList.add("hidden");
  $("rerecord_note").classList.add("hidden"); $("rerecord_note").textContent = "";
}
function saleBody() {
  const body = {};
  for (const f of FIELDS) body[f] = f === "consent" ? ($("consent").checked ? "1" : "") : $(f).value;
  body.origin = takeOrigin();
  return body;
}

$("refuse_btn").onclick = () => { $("refuse_err").textContent = ""; $("dlg_refuse").showModal(); };
$("refuse_no").onclick = () => $("dlg_refuse").close();
$("refuse_yes").onclick = async () => {
  const r = await api("POST", `/api/counters/${counter()}/refusal`, saleBody());
  if (!r.ok) {
    $("dlg_refuse").close(); setFieldErrors($("sale_form"), r.data.fields);
    $("form_err").textContent = r.data.error || `HTTP ${r.status}`; return;
  }
  $("dlg_refuse").close();
  $("sale_form").reset(); clearTakeOrigin(); setFieldErrors($("sale_form"), {}); showProductInfo();
  $("form_err").textContent = r.data.message;
};

$("sale_form").onsubmit = async ev => {
  ev.preventDefault();
  $("form_err").textContent = "";
  const body = saleBody();
  $("start_btn").disabled = true;
  const r = await api("POST", `/api/counters/${counter()}/recording`, body);
  $("start_btn").disabled = false;
  setFieldErrors($("sale_form"), r.data.fields);
  if (!r.ok) { $("form_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  const p = products.find(x => x.code === body.product_code);
  lastSale = body;
  rec = {clip_id: r.data.clip_id, elapsed: 0, at: performance.now(), markers: [], script: r.data.disclosure_script || "",
    steps: (r.data.required_markers || []).map(name => ({name, at_ms: null}))};
  $("verdict_card").classList.add("hidden");
  showRecording(`${ORIGIN_TAG[body.origin] || ""}${body.business_serial} · ${body.customer_name} · ${p ? p.name : body.product_code}`);
};

function showRecording(summary) {
  $("form_panel").classList.add("hidden"); $("rec_panel").classList.remove("hidden");
  $("today_card").classList.add("hidden"); $("prompter_card").classList.remove("hidden");
  $("counter").disabled = true;
  $("rec_summary").textContent = summary;
  $("prompter_text").textContent = rec.script || "（本产品无风险揭示脚本 / no disclosure script for this product）";
  prompt.pos = 0; prompt.paused = false; $("prompt_pause").textContent = "暂停 Pause";
  $("rec_err").textContent = ""; $("busy_note").textContent = "";
  renderMarkers();
  clearInterval(tickTimer);
  tickTimer = setInterval(() => { if (rec) $("timer").textContent = clock(rec.elapsed + performance.now() - rec.at); }, 250);
}
function showIdle() {
  rec = null; clearInterval(tickTimer);
  $("rec_panel").classList.add("hidden"); $("form_panel").classList.remove("hidden");
  $("prompter_card").classList.add("hidden"); $("today_card").classList.remove("hidden");
  $("counter").disabled = false; $("timer").textContent = "00:00";
}
// The product's required moments are the recording's steps, in the product's order; a product without
// any gets the usual three.
function renderMarkers() {
  const box = $("steps"), list = $("prompter_steps");
  if (!rec) { box.innerHTML = ""; list.innerHTML = ""; return; }
  const steps = rec.steps && rec.steps.length ? rec.steps.map((st, i) => ({label: `${i + 1}. ${st.name}`, step: st.name, at_ms: st.at_ms}))
    : Object.keys(MARKER_TEXT).map(kind => {
      const m = rec.markers.find(x => x.kind === kind);
      return {label: MARKER_TEXT[kind], kind, at_ms: m ? m.at_ms : null};
    });
  // Updated in place while the steps stay the same: a button rebuilt under the RM's finger loses the click.
  const same = box.children.length === steps.length && steps.every((st, i) => box.children[i].dataset.label === st.label);
  if (!same) {
    box.innerHTML = ""; list.innerHTML = "";
    for (const st of steps) {
      const b = document.createElement("button");
      b.type = "button"; b.dataset.label = st.label;
      if (st.kind) b.dataset.marker = st.kind; else b.dataset.step = st.step;
      b.onclick = () => markStep(st);
      box.appendChild(b);
      list.appendChild(document.createElement("li"));
    }
  }
  steps.forEach((st, i) => {
    const done = st.at_ms != null, b = box.children[i], li = list.children[i];
    b.className = "btn" + (done ? " done" : "");
    b.textContent = (done ? "✓ " : "") + st.label + (done ? `  ${clock(st.at_ms)}` : "");
    li.textContent = st.label; li.className = done ? "done" : "";
  });
}
async function markStep(st) {
  const r = await api("POST", `/api/counters/${counter()}/recording/markers`, st.step ? {step: st.step} : {kind: st.kind});
  if (!r.ok) { $("rec_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  rec.markers.push(r.data);
  const own = rec.steps && rec.steps.find(x => x.name === st.step);
  if (own && own.at_ms == null) own.at_ms = r.data.at_ms;
  renderMarkers();
}
function missingSteps() {
  return (rec.steps || []).filter(x => x.at_ms == null).map(x => x.name);
}

$("complete_btn").onclick = () => {
  const missing = missingSteps();
  // Without required moments from the product, the usual three are pointed out but not demanded.
  const unmarked = Object.keys(MARKER_TEXT).filter(k => !rec.markers.some(m => m.kind === k)).map(k => MARKER_TEXT[k]);
  $("complete_missing").textContent = missing.length ? `尚未标记必录环节 Required moments not marked：${missing.join("；")}`
    : (!(rec.steps || []).length && unmarked.length ? `尚未标记 Not yet marked：${unmarked.join("；")}` : "");
  $("missing_reason_box").classList.toggle("hidden", !missing.length);
  $("markers_missing_reason").value = ""; setFieldErrors($("dlg_complete"), {});
  $("dlg_complete").showModal();
};
$("complete_no").onclick = () => $("dlg_complete").close();
$("complete_yes").onclick = async () => {
  const reason = $("markers_missing_reason").value.trim();
  if (missingSteps().length && !reason) {
    setFieldErrors($("dlg_complete"), {markers_missing_reason: "请填写原因，或返回补录该环节 / give the reason, or go back and record it"});
    return;
  }
  $("complete_yes").disabled = true;
  const r = await api("POST", `/api/counters/${counter()}/recording/complete`, {markers_missing_reason: reason});
  $("complete_yes").disabled = false;
  if (r.status === 422 && r.data.missing_markers) {
    $("complete_missing").textContent = r.data.error; $("missing_reason_box").classList.remove("hidden");
    setFieldErrors($("dlg_complete"), r.data.fields); return;
  }
  $("dlg_complete").close();
  if (!r.ok) { $("rec_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  $("sale_form").reset(); clearTakeOrigin(); setFieldErrors($("sale_form"), {}); showProductInfo();
  showIdle(); loadClips();
  $("form_err").textContent = "";
  $("clips_empty").textContent = `已保存 Saved：${clock(r.data.duration_ms)}，${bytes(r.data.size)}`;
  showVerdict(r.data.clip_id);
};

// The quality check runs as soon as the clip is closed; its verdict shows here within seconds.
function showVerdict(clipId) {
  clearTimeout(verdictTimer);
  $("verdict_card").classList.remove("hidden");
  $("verdict_card").dataset.clip = clipId;
  $("verdict_clip").textContent = clipId.slice(0, 8);
  $("verdict").innerHTML = `<div class="verdict checking">质检中… Checking…</div>`;
  $("rerecord_btn").classList.add("hidden");
  pollVerdict(clipId);
}
async function pollVerdict(clipId) {
  if ($("verdict_card").dataset.clip !== clipId) return;
  const r = await api("GET", `/api/clips/${clipId}/quality`, null, true);
  if (!r.ok) { $("verdict").innerHTML = `<div class="err">${esc(r.data.error || "HTTP " + r.status)}</div>`; return; }
  const q = r.data;
  if (q.state === "queued" || q.state === "checking") { verdictTimer = setTimeout(() => pollVerdict(clipId), 1500); return; }
  if (q.state === "off") { $("verdict").innerHTML = `<div class="hint">本机未启用质检 / the check is off on this host</div>`; return; }
  if (q.state === "failed") {
    $("verdict").innerHTML = `<div class="verdict fail">质检未能完成 The check could not run</div><div class="hint">${esc(q.error || "")}</div>`;
    return;
  }
  const findings = q.findings || [];
  const rows = findings.map(f => `<li class="${f.severity}"><span class="when">${clock(f.start_s * 1000)}–${clock(f.end_s * 1000)}</span>
    ${esc(f.message_zh)} <span class="hint">${esc(f.message_en)}</span></li>`).join("");
  $("verdict").innerHTML = `<div class="verdict ${q.verdict}" data-verdict="${q.verdict}">${q.verdict === "pass" ? "✓" : "✗"} ${VERDICT_TEXT[q.verdict]}</div>`
    + (rows ? `<ul class="findings">${rows}</ul>` : "");
  $("rerecord_btn").classList.toggle("hidden", q.verdict !== "fail" || !lastSale || lastSale.business_serial !== q.business_serial);
  loadClips();
}
$("verdict_close").onclick = () => { clearTimeout(verdictTimer); $("verdict_card").classList.add("hidden"); $("verdict_card").dataset.clip = ""; };
$("rerecord_btn").onclick = () => {
  // The same sale again; the customer is asked for consent again, and the first clip stays as evidence.
  const clipId = $("verdict_card").dataset.clip;
  for (const f of SALE_FIELDS) $(f).value = lastSale[f];
  showProductInfo(); clearTakeOrigin();
  $("earlier_clip_id").value = clipId; $("consent").checked = false;
  $("rerecord_note").textContent = `重录：原录像 ${clipId.slice(0, 8)} 保留为证据 / Re-recording: clip ${clipId.slice(0, 8)} is kept as evidence`;
  $("rerecord_note").classList.remove("hidden");
  $("verdict_close").onclick();
  $("consent").focus();
};
$("cancel_btn").onclick = () => { $("cancel_reason_pick").value = ""; $("cancel_reason").value = ""; $("cancel_err").textContent = ""; $("dlg_cancel").showModal(); };
$("cancel_no").onclick = () => $("dlg_cancel").close();
$("cancel_reason_pick").onchange = $("cancel_reason").oninput = () => { $("cancel_err").textContent = ""; };
$("cancel_yes").onclick = async () => {
  const pick = $("cancel_reason_pick").value, extra = $("cancel_reason").value.trim();
  const reason = [pick === "other" ? "" : pick, extra].filter(Boolean).join("：");
  if (!reason) { $("cancel_err").textContent = "请选择或填写取消原因 / choose or type a reason"; return; }
  const r = await api("POST", `/api/counters/${counter()}/recording/cancel`, {reason});
  if (!r.ok) { $("cancel_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  $("dlg_cancel").close(); showIdle();
};

// Teleprompter: scrolls by itself at a reading pace the manager can change.
function scrollPrompter(now) {
  const box = $("prompter");
  if (rec && !prompt.paused && prompt.last) {
    prompt.pos = Math.min(prompt.pos + prompt.speed * (now - prompt.last) / 1000, Math.max(0, box.scrollHeight - box.clientHeight));
    box.scrollTop = prompt.pos;
  }
  prompt.last = now; requestAnimationFrame(scrollPrompter);
}
requestAnimationFrame(scrollPrompter);
$("prompt_pause").onclick = () => { prompt.paused = !prompt.paused; $("prompt_pause").textContent = prompt.paused ? "继续 Resume" : "暂停 Pause"; };
$("prompt_slower").onclick = () => { prompt.speed = Math.max(6, prompt.speed - 6); };
$("prompt_faster").onclick = () => { prompt.speed = Math.min(90, prompt.speed + 6); };
$("prompt_top").onclick = () => { prompt.pos = 0; $("prompter").scrollTop = 0; };

// Live preview: the next picture is asked for only when the last one arrived, a few per second.
function nextPreview() {
  if (!previewOn || document.hidden) { setTimeout(nextPreview, 500); return; }
  $("preview").src = `/api/counters/${encodeURIComponent(counter())}/preview.jpg?bg=1&t=${Date.now()}`;
}
$("preview").onload = () => setTimeout(nextPreview, 250);
$("preview").onerror = () => setTimeout(nextPreview, 1000);

async function pollStatus() {
  const r = await api("GET", `/api/counters/${encodeURIComponent(counter())}/status`, null, true);
  if (!state.me) return;
  if (r.ok) renderStatus(r.data);
  statusTimer = setTimeout(pollStatus, 1000);
}
function renderStatus(s) {
  $("sources").innerHTML = s.sources.map(x => `<div class="source ${x.problem ? "bad" : ""}" data-source="${esc(x.role)}">
    <div>${esc(x.label)}</div><div class="hint">${esc(x.name)}${x.role === "microphone" ? "" : " · " + (x.fps || 0).toFixed(1) + " fps"}
    ${x.bitrate_kbps ? " · " + Math.round(x.bitrate_kbps) + " kbps" : ""}</div>${x.problem ? `<div>${esc(x.problem)}</div>` : ""}</div>`).join("");
  const problems = [...s.problems];
  if (s.recording && s.recording.engine_failure) problems.push(`录像引擎故障 recorder failure：${s.recording.engine_failure}`);
  $("cam_problems").innerHTML = problems.map(p => `<div>⚠ ${esc(p)}</div>`).join("");
  $("cam_problems").classList.toggle("hidden", problems.length === 0);
  const active = s.recording;
  if (active && active.mine) {
    if (!rec) {  // page reloaded mid-recording: pick the clip up again
      const p = products.find(x => x.code === active.product_code);
      rec = {clip_id: active.clip_id, elapsed: active.elapsed_ms, at: performance.now(), markers: active.markers || [], script: p ? p.disclosure_script : "", steps: active.steps || []};
      showRecording(`${active.business_serial} · ${active.customer_name} · ${active.product_name}`);
    }
    rec.elapsed = active.elapsed_ms; rec.at = performance.now(); rec.markers = active.markers || rec.markers;
    if (active.steps) rec.steps = active.steps;
    renderMarkers();
  } else if (!active && rec) {
    showIdle(); loadClips();
  }
  $("start_btn").disabled = !!(active && !active.mine);
  $("counter_busy").textContent = active && !active.mine ? `本柜台正由员工 ${active.staff_code} 录像 / staff ${active.staff_code} is recording at this counter` : "";
}
function startPolling() {
  stopPolling(); previewOn = true; nextPreview(); pollStatus();
}
function stopPolling() { previewOn = false; clearTimeout(statusTimer); }
$("counter").onchange = () => { localStorage.setItem("counter", counter()); startPolling(); };

async function loadClips() {
  const r = await api("GET", "/api/clips");
  if (!r.ok) return;
  const list = r.data.clips || [];
  $("clips").innerHTML = "";
  $("clips_empty").textContent = list.length ? "" : "今天还没有录像 / no clips today yet";
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.dataset.clip = c.clip_id;
    tr.innerHTML = `<td>${esc(c.started_local.slice(11))}</td><td>${esc(c.business_serial)}</td><td>${esc(c.customer_name)}</td><td>${esc(c.product_name)}</td>
      <td>${clock(c.duration_ms || 0)}</td><td>${esc(ORIGIN_TAG[c.origin] || "")}${esc(STATE_TEXT[c.state] || c.state)}</td>
      <td class="verdict-cell" data-verdict="${esc(c.quality_verdict || "")}">${c.quality_verdict ? esc(VERDICT_TEXT[c.quality_verdict]) : "—"}</td><td>${uploadTag(c.upload_state)}</td>
      <td>${c.media_on_disk ? `<button class="btn small" type="button">▶ 回放 Replay</button>` : ""}</td>`;
    const b = tr.querySelector("button");
    if (b) b.onclick = () => openPlayer(c);
    $("clips").appendChild(tr);
  }
}
$("player_close").onclick = closePlayer;
$("player").oncontextmenu = () => false;

(async () => {
  const saved = localStorage.getItem("counter");
  if (saved && [...$("counter").options].some(o => o.value === saved)) $("counter").value = saved;
  const r = await api("GET", "/api/session");
  if (r.ok) showSignedIn(r.data);
})();
