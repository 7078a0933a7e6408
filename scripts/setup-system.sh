#!/usr/bin/env bash
# Installs the system packages EZ Flow needs to build and test on Debian:
# a C/C++ toolchain and cmake (whisper.cpp), Python's pip and npm (to fetch
# the test model and the JFK clip from package registries), espeak-ng and sox
# (to make labelled test speech), ALSA's headers (microphone capture), and an
# X server and D-Bus daemon for the desktop tests (Xvfb, dbus-daemon), and for
# the settings window: WebKitGTK and GTK's headers (Tauri on Linux) and
# WebKitGTK's WebDriver (its end-to-end tests); for the package: Debian's
# packaging tools (dpkg-shlibdeps, lintian), desktop-file-validate, and
# qemu-user to run the packaged binary on an older CPU model. Does nothing
# when everything is present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  python3 python3-pip unzip
  nodejs npm
  espeak-ng sox libsox-fmt-all lame vorbis-tools flac
  libasound2-dev
  xvfb xauth dbus
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev librsvg2-dev
  webkit2gtk-driver
  dpkg-dev lintian desktop-file-utils qemu-user
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# A toolchain installed outside apt (pyenv's python, a node from elsewhere)
# is as good as Debian's: only ask apt for what has no working command.
declare -A provides=([python3]=python3 [python3-pip]="python3 -m pip" [nodejs]=node [npm]=npm)
still_missing=()
for p in "${missing[@]}"; do
  if [[ -n "${provides[$p]:-}" ]] && ${provides[$p]} --version >/dev/null 2>&1; then
    continue
  fi
  still_missing+=("$p")
done

if ((${#still_missing[@]} == 0)); then
  exit 0
fi

echo "setup-system: installing ${still_missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${still_missing[@]}" >/dev/null
