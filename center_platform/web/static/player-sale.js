// The player's timeline and chapters: spans placed by their seconds, a click jumps the video there.
"use strict";
(function () {
  const video = document.getElementById("player");
  const timeline = document.getElementById("timeline");
  if (!video || !timeline) { return; }
  const duration = parseFloat(timeline.dataset.duration) || 0;
  function percent(seconds) {
    return duration > 0 ? Math.max(0, Math.min(100, seconds / duration * 100)) : 0;
  }
  timeline.querySelectorAll("[data-start]").forEach(function (el) {
    const start = parseFloat(el.dataset.start) || 0;
    el.style.left = percent(start) + "%";
    if (el.dataset.end !== undefined) {
      // Even a finding of an instant stays visible and clickable.
      el.style.width = Math.max(0.6, percent(parseFloat(el.dataset.end) || start) - percent(start)) + "%";
    }
  });
  function jump(seconds) {
    video.currentTime = Math.max(0, Math.min(seconds, duration || seconds));
  }
  document.querySelectorAll("[data-jump]").forEach(function (el) {
    el.addEventListener("click", function () { jump(parseFloat(el.dataset.jump) || 0); });
  });
  // A click anywhere on a lane jumps to that point; on a span, to where the span starts.
  timeline.querySelectorAll(".tl-lane").forEach(function (lane) {
    lane.addEventListener("click", function (ev) {
      const span = ev.target.closest("[data-start]");
      if (span && !span.classList.contains("tl-playhead")) { jump(parseFloat(span.dataset.start) || 0); return; }
      const box = lane.getBoundingClientRect();
      if (box.width > 0) { jump((ev.clientX - box.left) / box.width * duration); }
    });
  });
  const head = timeline.querySelector(".tl-playhead");
  video.addEventListener("timeupdate", function () { head.style.left = percent(video.currentTime) + "%"; });
})();
