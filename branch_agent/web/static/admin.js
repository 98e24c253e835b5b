// Branch admin: disk and days left, upload queue and "upload now", cameras per counter, every clip.
"use strict";
let overviewTimer = null;
const cameraRows = new Map();  // counter code -> preview <img>, kept across refreshes so it does not flicker

state.onSignedOut = () => { location.href = "/"; };

function age(s) { return s == null ? "—" : s < 1 ? "<1 s" : `${s.toFixed(0)} s`; }

function renderOverview(o) {
  const d = o.disk;
  $("days_left").textContent = d.days_left == null ? "剩余天数 Days left：—（近期无录像 no recent recording）"
    : d.days_left > 365 ? "可用一年以上 · more than a year left"
    : `剩余约 ${Math.floor(d.days_left)} 天 · about ${Math.floor(d.days_left)} days left`;
  $("days_left").style.color = d.days_left != null && d.days_left < 7 ? "#b42318" : "";
  const used = d.total_bytes - d.free_bytes;
  $("disk_bar").style.width = `${Math.round(100 * used / Math.max(1, d.total_bytes))}%`;
  $("disk_text").textContent = `已用 used ${bytes(used)} / 共 total ${bytes(d.total_bytes)} · 空闲 free ${bytes(d.free_bytes)} · ` +
    `录像占用 clips ${bytes(d.spool_bytes)} · 日均 per day ${bytes(Math.round(d.daily_bytes))}`;
  $("upload_window").textContent = `自动上传时段 window ${o.upload_window.start}–${o.upload_window.end}`;
  $("queue_count").textContent = `${o.upload_queue.length} 段待上传 clips queued`;
  $("upload_btn").disabled = o.upload_running;
  $("queue").innerHTML = o.upload_queue.map(q => `<tr><td>${esc(q.started_local)}</td><td>${esc(q.business_serial)}</td><td>${bytes(q.size)}</td>
    <td>${uploadTag(q.upload_state)}</td><td>${q.attempts ? "重试 tries " + q.attempts : ""}</td><td class="err">${esc(q.error)}</td></tr>`).join("");
  const problems = [];
  const rows = [];
  for (const c of o.counters) {
    c.sources.forEach((s, i) => {
      if (s.problem) problems.push(`${c.code} ${s.label}（${s.name}）：${s.problem}`);
      rows.push(`<tr data-counter="${esc(c.code)}">${i === 0 ? `<td rowspan="${c.sources.length}">${esc(c.code)}<br><span class="hint">${esc(c.name)}</span></td>
        <td rowspan="${c.sources.length}" class="thumb-cell" data-thumb="${esc(c.code)}"></td>` : ""}
        <td>${esc(s.label)}<br><span class="hint">${esc(s.name)}${s.kind ? " · " + esc(s.kind) : ""}</span></td>
        <td>${s.problem ? `<span class="tag bad">${esc(s.problem)}</span>` : `<span class="tag ok">正常 OK</span>`}${s.detail && !s.problem ? `<br><span class="hint">${esc(s.detail)}</span>` : ""}</td>
        <td>${s.role === "microphone" ? "—" : (s.fps || 0).toFixed(1)}</td><td>${age(s.last_frame_age_s)}</td>
        <td>${s.bitrate_kbps ? Math.round(s.bitrate_kbps) + " kbps" : "—"}</td>
        <td>${s.clock_offset_s == null ? "—" : s.clock_offset_s.toFixed(2) + " s"}</td><td>${s.errors} / ${s.reconnects}</td>
        ${i === 0 ? `<td rowspan="${c.sources.length}">${c.recording ? `<span class="rec-dot"></span>${esc(c.recording.staff_code)} ${clock(c.recording.elapsed_ms)}` : "空闲 idle"}</td>` : ""}</tr>`);
    });
  }
  $("counters").innerHTML = rows.join("");
  document.querySelectorAll("[data-thumb]").forEach(td => {
    const code = td.dataset.thumb;
    if (!cameraRows.has(code)) {
      const img = document.createElement("img");
      img.className = "thumb"; img.alt = code;
      cameraRows.set(code, img);
      // One picture a second per counter is enough for an overview.
      const next = () => { img.src = `/api/counters/${encodeURIComponent(code)}/preview.jpg?bg=1&t=${Date.now()}`; };
      img.onload = () => setTimeout(next, 1000); img.onerror = () => setTimeout(next, 3000);
      next();
    }
    td.appendChild(cameraRows.get(code));
  });
  renderCenter(o);
  $("cam_problems").innerHTML = problems.map(p => `<div>⚠ ${esc(p)}</div>`).join("");
  $("cam_problems").classList.toggle("hidden", problems.length === 0);
}

const SYNC_TEXT = { products: "产品 products", staff: "员工 staff", branch: "网点设置 branch settings" };
function localTime(iso) { return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "—"; }

// Sync state, the center's view of this branch (shown, never applied), disk guard and heartbeat.
function renderCenter(o) {
  $("disk_alert").textContent = o.disk_alert || "";
  $("disk_alert").classList.toggle("hidden", !o.disk_alert);
  $("config_mismatches").innerHTML = o.config_mismatches.map(m => `<div>⚠ 与中心登记不一致 differs from the center: ${esc(m)}</div>`).join("");
  $("config_mismatches").classList.toggle("hidden", o.config_mismatches.length === 0);
  $("sync_rows").innerHTML = o.sync.map(s => `<tr><td>${esc(SYNC_TEXT[s.resource] || s.resource)}</td><td>${esc(localTime(s.synced_at))}</td>
    <td class="hint">${esc((s.etag || "—").slice(0, 14))}</td>
    <td>${s.error ? `<span class="tag bad">同步失败，使用本地副本 failed, using the local copy</span><br><span class="err">${esc(s.error)}</span>`
      : s.synced_at ? `<span class="tag ok">正常 OK</span>` : "尚未同步 never synced"}</td></tr>`).join("");
  const b = o.center_branch;
  $("center_branch").textContent = b ? `中心登记 at the center: ${b.code} ${b.name} · ${b.timezone} · 柜台 counters ${b.counters.map(c => c.code).join(", ")}` : "";
  const cc = o.central_config;
  $("central_config").textContent = !cc.applied_version && !cc.seen_version ? "未集中配置，按本机配置文件运行 nothing set centrally: this file runs"
    : cc.state === "refused" ? `中心配置版本 ${cc.seen_version} 已拒绝 refused: ${cc.reason}；运行版本 running ${cc.applied_version || "本机文件 the file"}`
    : cc.state === "waiting" ? `中心配置版本 ${cc.applied_version} 已应用，柜台 ${cc.waiting_counters.join(", ")} 本次录像结束后更换设备 applied; their cameras change when the take ends`
    : `中心配置版本 ${cc.applied_version} 已生效 central configuration version ${cc.applied_version} in effect`;
  $("central_config").classList.toggle("err", cc.state === "refused");
  const h = o.heartbeat;
  $("heartbeat_state").textContent = !h ? "心跳尚未发送 no heartbeat sent yet"
    : h.ok ? `心跳 heartbeat ${localTime(h.at)} 已送达 delivered` : `心跳 heartbeat ${localTime(h.at)} 未送达 not delivered: ${h.error}`;
}

async function loadOverview() {
  const r = await api("GET", "/api/admin/overview", null, true);
  if (r.ok) renderOverview(r.data);
  clearTimeout(overviewTimer);
  if (state.me) overviewTimer = setTimeout(loadOverview, 3000);
}

async function loadClips() {
  const date = $("clip_date").value;
  const r = await api("GET", "/api/clips" + (date ? `?date=${date}` : ""));
  if (!r.ok) { $("clips_empty").textContent = r.data.error || ""; return; }
  const list = r.data.clips || [];
  $("clips_empty").textContent = list.length ? "" : "没有录像 / no clips";
  $("clips").innerHTML = "";
  for (const c of list) {
    const tr = document.createElement("tr");
    tr.dataset.clip = c.clip_id;
    tr.innerHTML = `<td>${esc(c.started_local)}</td><td>${esc(c.counter)}</td><td>${esc(c.staff_code)}</td><td>${esc(c.business_serial)}</td>
      <td>${esc(c.customer_name)}</td><td>${esc(c.id_number_masked)}</td><td>${esc(c.card_number_masked)}</td><td>${esc(c.product_name)}</td>
      <td>${clock(c.duration_ms || 0)}</td><td>${bytes(c.size)}</td><td>${esc(ORIGIN_TAG[c.origin] || "")}${esc(STATE_TEXT[c.state] || c.state)}</td>
      <td class="verdict-cell" data-verdict="${esc(c.quality_verdict || "")}">${c.quality_verdict ? esc(VERDICT_TEXT[c.quality_verdict]) : "—"}</td>
      <td>${uploadTag(c.upload_state)}${c.upload_error ? `<br><span class="err">${esc(c.upload_error.slice(0, 80))}</span>` : ""}</td>
      <td>${c.media_on_disk ? `<button class="btn small" type="button">▶ 回放 Replay</button>` : `<span class="hint">已清理 removed</span>`}</td>`;
    const b = tr.querySelector("button");
    if (b) b.onclick = () => openPlayer(c);
    $("clips").appendChild(tr);
  }
}

$("upload_btn").onclick = async () => {
  $("upload_btn").disabled = true;
  $("upload_result").textContent = "正在上传… uploading…";
  const r = await api("POST", "/api/uploads/run");
  if (!r.ok) { $("upload_result").textContent = r.data.error || `HTTP ${r.status}`; }
  else {
    const res = r.data.results || [];
    const ok = res.filter(x => x.state === "verified").length;
    $("upload_result").textContent = `本次 this run：${ok} 段已核验 verified，${res.length - ok} 段未完成 not done` +
      (res.length === 0 ? "（总行不可达或队列为空 / center unreachable or queue empty）" : "");
  }
  loadOverview(); loadClips();
};
$("diagnose_btn").onclick = async () => {
  $("diagnose_btn").disabled = true;
  $("diagnose_result").textContent = "正在诊断… diagnosing…";
  const r = await api("POST", "/api/admin/diagnosis");
  $("diagnose_btn").disabled = false;
  if (!r.ok) { $("diagnose_result").textContent = r.data.error || `HTTP ${r.status}`; return; }
  const bad = r.data.results.filter(x => x.findings.length);
  $("diagnose_result").textContent = bad.length
    ? bad.map(x => `${x.counter} ${x.role}: ${x.findings.join(", ")}`).join("；")
    : `${r.data.results.length} 路画面正常 pictures OK`;
  loadOverview();
};
$("logout_btn").onclick = signOut;
$("clip_date").onchange = loadClips;
$("player_close").onclick = closePlayer;
$("player").oncontextmenu = () => false;

(async () => {
  const r = await api("GET", "/api/session");
  if (!r.ok || r.data.role !== "branch_admin") { location.href = "/"; return; }
  state.me = r.data; state.csrf = r.data.csrf_token;
  $("who").textContent = `${r.data.name}（${r.data.staff_code}）`;
  loadOverview(); loadClips();
})();
