#!/usr/bin/env bash
# Checks the Debian package that scripts/package.sh built, then installs it on
# this machine, uses it as a user would, and removes it again:
#   - lintian (no errors or warnings) and desktop-file-validate;
#   - `dpkg -i` + `apt-get -f install`;
#   - `ezflow --version` names the fastest CPU build this CPU runs, and
#     EZFLOW_CPU caps it;
#   - `ezflow transcribe` of a clip with the test model;
#   - the baseline build on an older CPU model (qemu-user, a Nehalem: no
#     AVX) transcribes, and a Haswell model gets the AVX2 build;
#   - the installed app under Xvfb: its tray, a dictation, the launcher
#     (crates/ezflow/tests/installed.rs);
#   - removal leaves none of the package's files behind, and the user's
#     data where it was.
# Needs root (or sudo) for dpkg. Usage: scripts/test-package.sh [DEB]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
deb="${1:-$(ls target/package/ezflow_*_amd64.deb)}"
assets="$root/target/test-assets"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
fail() {
  echo "test-package: FAILED: $*" >&2
  exit 1
}
step() { echo "test-package: $*" >&2; }

step "lintian $deb"
# Errors and warnings fail; the informational tags are printed.
lintian --fail-on error,warning --info "$deb"

step "desktop-file-validate"
unpacked="$(mktemp -d)"
home="$(mktemp -d)"
installed_here=0
cleanup() {
  rm -rf "$unpacked" "$home"
  # A failed run removes what it installed: the next run must not mistake
  # it for a developer's own installation and skip.
  if [[ $installed_here -eq 1 ]] && dpkg-query -W -f='${Status}' ezflow 2>/dev/null |
    grep -q "install ok installed"; then
    echo "test-package: removing the package this run installed" >&2
    $sudo apt-get purge -y -qq ezflow >/dev/null || true
  fi
}
trap cleanup EXIT
dpkg-deb -x "$deb" "$unpacked"
desktop-file-validate "$unpacked/usr/share/applications/ezflow.desktop"

if dpkg-query -W -f='${Status}' ezflow 2>/dev/null | grep -q "install ok installed"; then
  # A developer's own installed EZ Flow is not replaced and removed by a
  # test run; CI's machine never has one.
  if [[ "${CI:-}" == true ]]; then
    fail "an ezflow package is already installed on the CI machine"
  fi
  echo "test-package: SKIPPED the install tests: an ezflow package is already installed" \
    "here (apt-get purge ezflow, then run scripts/test-package.sh)" >&2
  exit 0
fi

step "dpkg -i + apt-get -f install"
export DEBIAN_FRONTEND=noninteractive
# The test binary of tests/installed.rs is built before the clock starts.
cargo test -q -p ezflow --test installed --no-run
install_started="$(date +%s.%N)"
installed_here=1
if ! $sudo dpkg -i "$deb"; then
  $sudo apt-get -f install -y -qq
fi
dpkg-query -W -f='${Status}' ezflow | grep -q "install ok installed" || fail "not installed"
mapfile -t files < <(dpkg -L ezflow | while read -r f; do [[ -f "$f" ]] && echo "$f"; done)
# Nothing the package installs runs as root or is setuid.
for f in "${files[@]}"; do
  if [[ -u "$f" || -g "$f" ]]; then fail "$f is setuid/setgid"; fi
done

# The level this CPU runs, as the launcher decides it (from /proc/cpuinfo).
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do [[ "$flags" == *" $f "* ]] || return 1; done; }
if has avx512f avx512bw avx512dq avx512vl avx2 fma f16c bmi2; then
  expected=x86-64-v4
elif has avx2 fma f16c bmi2; then
  expected=x86-64-v3
else
  expected=x86-64
fi
step "ezflow --version (expecting the $expected build)"
version="$(/usr/bin/ezflow --version)"
echo "$version"
[[ "$version" == *"CPU build $expected)"* ]] || fail "expected the $expected build: $version"
inherited="$(EZFLOW_EXE=/usr/bin/ezflow /usr/bin/ezflow --version)"
[[ "$inherited" == *"CPU build $expected)"* ]] || fail "an inherited EZFLOW_EXE stopped the hand-over: $inherited"
capped="$(EZFLOW_CPU=x86-64 /usr/bin/ezflow --version)"
[[ "$capped" == *"CPU build x86-64)"* ]] || fail "EZFLOW_CPU=x86-64 did not cap: $capped"

step "the installed app under Xvfb (tests/installed.rs)"
EZFLOW_EXPECTED_CPU_BUILD="$expected" EZFLOW_INSTALLED_EXE=/usr/bin/ezflow \
  EZFLOW_INSTALL_STARTED_AT="$install_started" \
  cargo test -p ezflow --test installed -- --ignored --nocapture

user_env=(env -i PATH=/usr/bin:/bin HOME="$home" XDG_CONFIG_HOME="$home/.config"
  XDG_DATA_HOME="$home/.local/share" XDG_STATE_HOME="$home/.local/state"
  XDG_RUNTIME_DIR="$home/run" EZFLOW_NO_FIRST_RUN=1)
mkdir -p "$home/run" && chmod 700 "$home/run"

check_words() { # text, words...
  local text="$1" lower="${1,,}"
  shift
  for w in "$@"; do [[ "$lower" == *"$w"* ]] || fail "\"$w\" missing from: $text"; done
}
step "ezflow transcribe (the installed binary, the test model)"
text="$("${user_env[@]}" /usr/bin/ezflow transcribe --model "$assets/ggml-tiny.en.bin" "$assets/jfk.wav")"
echo "$text"
check_words "$text" "ask not what your country can do for you"

step "an older CPU (qemu-x86_64 -cpu Nehalem: SSE4.2, no AVX)"
old="$("${user_env[@]}" qemu-x86_64 -cpu Nehalem /usr/bin/ezflow --version)"
[[ "$old" == *"CPU build x86-64)"* ]] || fail "the Nehalem model did not stay on the baseline: $old"
text="$("${user_env[@]}" qemu-x86_64 -cpu Nehalem /usr/bin/ezflow transcribe \
  --model "$assets/ggml-tiny.en.bin" "$assets/audio/schedule.wav")"
echo "$text"
check_words "$text" "schedule the meeting for tuesday afternoon"
# The control: the AVX2 build on the same CPU model dies with an illegal
# instruction, so the model really lacks what the baseline avoids.
set +e
"${user_env[@]}" qemu-x86_64 -cpu Nehalem /usr/lib/ezflow/ezflow-x86-64-v3 transcribe \
  --model "$assets/ggml-tiny.en.bin" "$assets/audio/schedule.wav" >/dev/null 2>&1
status=$?
set -e
[[ $status -eq 132 ]] || fail "the v3 build on a Nehalem model should die with SIGILL (132), got $status"
# qemu-user runs only the first program: the build the launcher hands over
# to runs natively, so this checks the launcher's choice for a Haswell.
haswell="$("${user_env[@]}" qemu-x86_64 -cpu Haswell /usr/bin/ezflow --version)"
[[ "$haswell" == *"CPU build x86-64-v3)"* ]] || fail "a Haswell did not get the v3 build: $haswell"

step "removal"
# The user's own files: settings and the autostart entry, written by the
# installed binary.
"${user_env[@]}" /usr/bin/ezflow autostart enable >/dev/null
for f in "$home/.config/ezflow/settings.toml" "$home/.config/autostart/ezflow.desktop"; do
  [[ -f "$f" ]] || fail "ezflow autostart enable did not write $f"
done
user_files() { (cd "$home" && find . -type f -print0 | sort -z | xargs -0 md5sum); }
before="$(user_files)"
$sudo apt-get purge -y -qq ezflow >/dev/null
for f in "${files[@]}"; do
  [[ ! -e "$f" ]] || fail "$f is left behind after removal"
done
[[ ! -e /usr/lib/ezflow ]] || fail "/usr/lib/ezflow is left behind"
[[ "$(user_files)" == "$before" ]] || fail "removal touched the user's files"
step "all checks passed"
