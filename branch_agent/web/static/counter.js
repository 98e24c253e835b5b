// The counter screen: sign in, sale form, recording with live preview and teleprompter, today's replay.
"use strict";
const FIELDS = ["business_serial", "customer_name", "id_type", "id_number", "card_number", "product_code", "consent"];
const MARKER_TEXT = {risk_disclosed: "风险揭示已宣读 Risk disclosure read", customer_confirmed: "客户已确认 Customer confirmed", signed: "客户已签字 Signed"};
let products = [], rec = null, statusTimer = null, previewOn = false, tickTimer = null;
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

$("sale_form").onsubmit = async ev => {
  ev.preventDefault();
  $("form_err").textContent = "";
  const body = {};
  for (const f of FIELDS) body[f] = f === "consent" ? ($("consent").checked ? "1" : "") : $(f).value;
  $("start_btn").disabled = true;
  const r = await api("POST", `/api/counters/${counter()}/recording`, body);
  $("start_btn").disabled = false;
  setFieldErrors($("sale_form"), r.data.fields);
  if (!r.ok) { $("form_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  const p = products.find(x => x.code === body.product_code);
  rec = {clip_id: r.data.clip_id, elapsed: 0, at: performance.now(), markers: [], script: r.data.disclosure_script || ""};
  showRecording(`${body.business_serial} · ${body.customer_name} · ${p ? p.name : body.product_code}`);
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
function renderMarkers() {
  document.querySelectorAll("[data-marker]").forEach(b => {
    const m = rec && rec.markers.find(x => x.kind === b.dataset.marker);
    b.classList.toggle("done", !!m);
    b.textContent = (m ? "✓ " : "") + MARKER_TEXT[b.dataset.marker] + (m ? `  ${clock(m.at_ms)}` : "");
  });
}
document.querySelectorAll("[data-marker]").forEach(b => b.onclick = async () => {
  const r = await api("POST", `/api/counters/${counter()}/recording/markers`, {kind: b.dataset.marker});
  if (!r.ok) { $("rec_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  rec.markers.push(r.data); renderMarkers();
});

$("complete_btn").onclick = () => {
  const missing = Object.keys(MARKER_TEXT).filter(k => !rec.markers.some(m => m.kind === k)).map(k => MARKER_TEXT[k]);
  $("complete_missing").textContent = missing.length ? `尚未标记 Not yet marked：${missing.join("；")}` : "";
  $("dlg_complete").showModal();
};
$("complete_no").onclick = () => $("dlg_complete").close();
$("complete_yes").onclick = async () => {
  $("complete_yes").disabled = true;
  const r = await api("POST", `/api/counters/${counter()}/recording/complete`);
  $("complete_yes").disabled = false; $("dlg_complete").close();
  if (!r.ok) { $("rec_err").textContent = r.data.error || `HTTP ${r.status}`; return; }
  $("sale_form").reset(); setFieldErrors($("sale_form"), {}); showProductInfo();
  showIdle(); loadClips();
  $("form_err").textContent = "";
  $("clips_empty").textContent = `已保存 Saved：${clock(r.data.duration_ms)}，${bytes(r.data.size)}`;
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
      rec = {clip_id: active.clip_id, elapsed: active.elapsed_ms, at: performance.now(), markers: active.markers || [], script: p ? p.disclosure_script : ""};
      showRecording(`${active.business_serial} · ${active.customer_name} · ${active.product_name}`);
    }
    rec.elapsed = active.elapsed_ms; rec.at = performance.now(); rec.markers = active.markers || rec.markers; renderMarkers();
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
      <td>${clock(c.duration_ms || 0)}</td><td>${esc(STATE_TEXT[c.state] || c.state)}</td><td>${uploadTag(c.upload_state)}</td>
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
