// Shared by the counter and admin screens: API calls with the CSRF token, formatting helpers.
"use strict";
const $ = id => document.getElementById(id);
const state = {csrf: "", me: null, onSignedOut: () => {}};

async function api(method, path, body, background) {
  const headers = {"Content-Type": "application/json", "X-CSRF-Token": state.csrf};
  if (background) headers["X-Background-Poll"] = "1";
  let r;
  try {
    r = await fetch(path, {method, headers, body: body ? JSON.stringify(body) : undefined, credentials: "same-origin"});
  } catch (e) {
    return {ok: false, status: 0, data: {error: "无法连接本机服务 / cannot reach the branch agent"}};
  }
  const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : {};
  if (r.status === 401 && state.me) { state.me = null; state.onSignedOut(); }
  return {ok: r.ok, status: r.status, data};
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function clock(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
  return (h ? String(h).padStart(2, "0") + ":" : "") + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
}
function bytes(n) {
  if (n == null) return "";
  const u = ["B", "KB", "MB", "GB", "TB"]; let i = 0; n = Number(n);
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}
const STATE_TEXT = {completed: "已完成 completed", interrupted: "中断 interrupted", recording: "录像中 recording", cancelled: "已取消 cancelled"};
const VERDICT_TEXT = {pass: "合格 Passed", fail: "不合格 Failed"};
// A take that is not the sale's own recording says what it is wherever it is listed.
const ORIGIN_TAG = {re_recorded: "重录 ", supplementary: "补录 ", imported: "导入 "};
const UPLOAD_TEXT = {pending: "待上传 pending", uploading: "上传中 uploading", uploaded: "已上传 uploaded", verified: "已核验 verified",
                     purged: "已清理 purged", quarantined: "隔离 quarantined"};
function uploadTag(s) {
  const cls = s === "verified" || s === "purged" ? "ok" : s === "quarantined" ? "bad" : "warn";
  return `<span class="tag ${cls}">${esc(UPLOAD_TEXT[s] || s || "")}</span>`;
}

// Replay: in the page only; the player offers no download and no context menu.
function openPlayer(clip) {
  const v = $("player");
  $("player_title").textContent = `${clip.started_local} · ${clip.business_serial}`;
  v.src = `/api/clips/${clip.clip_id}/media`;
  $("dlg_player").showModal();
  v.play().catch(() => {});
}
function closePlayer() {
  const v = $("player"); v.pause(); v.removeAttribute("src"); v.load(); $("dlg_player").close();
}

async function signOut() {
  await api("DELETE", "/api/session");
  state.me = null; location.href = "/";
}
if ($("dlg_player")) $("dlg_player").addEventListener("close", () => $("player").pause());
