#!/usr/bin/env bash
# Debian packages the test suite needs: espeak-ng (speech for transcription tests), ffmpeg (encoding to
# ogg/opus like a WhatsApp voice note), sox. Installs only what is missing; fails loudly when it cannot.
set -euo pipefail

need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v sox >/dev/null 2>&1 || need+=(sox)
[ ${#need[@]} -eq 0 ] && exit 0

echo "ensure-system-packages: installing ${need[*]}" >&2
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-packages: no apt-get here; install ${need[*]} yourself" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
    echo "ensure-system-packages: not root and no sudo; install ${need[*]} yourself" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for cmd in "${need[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "ensure-system-packages: $cmd still missing" >&2; exit 1; }
done
