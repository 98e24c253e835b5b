#!/usr/bin/env bash
# What the operating system must provide: Python's venv module, a CJK font for the burned-in text,
# ffmpeg (ffprobe checks recordings in the tests and benchmarks), and for the tests Chromium with its
# driver (the counter UI is driven headless), faketime (simulated cameras run with their clocks hours
# off), GStreamer's RTSP server (a live camera that is not ours) and SIPp (sip-tester, a GB/T 28181
# camera's SIP side), and real recorded speech and sounds for the quality check's labelled set
# (pocketsphinx-testdata, asterisk-core-sounds-en-gsm, alsa-utils, sound-theme-freedesktop).
# Installs them with apt when run as root on Debian/Ubuntu; otherwise prints the exact apt line and stops.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
FONT="/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
missing=()

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "Python 3.11 or newer is required ($PYTHON is $("$PYTHON" -V 2>&1))." >&2; exit 1; }
"$PYTHON" -c 'import ensurepip, venv' 2>/dev/null || missing+=("python3-venv")
[ -f "$FONT" ] || missing+=("fonts-wqy-microhei")
command -v ffprobe >/dev/null 2>&1 || missing+=("ffmpeg")
command -v chromium >/dev/null 2>&1 || missing+=("chromium")
command -v chromedriver >/dev/null 2>&1 || missing+=("chromium-driver")
command -v faketime >/dev/null 2>&1 || missing+=("faketime")
command -v sipp >/dev/null 2>&1 || missing+=("sip-tester")
[ -d /usr/share/pocketsphinx/test/data/librivox ] || missing+=("pocketsphinx-testdata")
[ -d /usr/share/asterisk/sounds/en_US_f_Allison ] || missing+=("asterisk-core-sounds-en-gsm")
[ -f /usr/share/sounds/alsa/Front_Center.wav ] || missing+=("alsa-utils")
[ -d /usr/share/sounds/freedesktop/stereo ] || missing+=("sound-theme-freedesktop")
# A live RTSP camera for the tests: GStreamer's RTSP server, run with the system Python.
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import Gst, GstRtspServer; \
Gst.init(None); import sys; sys.exit(0 if Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('alawenc') else 1)" \
  2>/dev/null || missing+=("python3" "python3-gi" "gir1.2-gst-rtsp-server-1.0" "gstreamer1.0-plugins-base" \
  "gstreamer1.0-plugins-good" "gstreamer1.0-plugins-ugly")

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "Missing system packages. Run:" >&2
echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
exit 1
