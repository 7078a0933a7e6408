#!/usr/bin/env bash
# Builds EZ Flow's Debian package: target/package/ezflow_<version>_amd64.deb.
#
# What goes in (docs/packaging.md says why):
#   /usr/bin/ezflow                      the app, whisper.cpp for the x86-64 baseline
#   /usr/lib/ezflow/ezflow-x86-64-v3     the same, whisper.cpp for AVX2/FMA/F16C
#   /usr/lib/ezflow/ezflow-x86-64-v4     the same, whisper.cpp for AVX-512
#   /usr/bin/ezflow-settings             the settings window
#   the launcher entry, hicolor icons, copyright and changelog.
# /usr/bin/ezflow hands over to the fastest build the CPU runs when it
# starts (crates/ezflow/src/launcher.rs).
#
# whisper-rs-sys builds whisper.cpp with the GGML_* variables of the
# environment but does not rebuild when they change. Each CPU level is
# therefore built with its own setting of a knob that means nothing to
# whisper-rs-sys (its codegen-units: the crate is only bindings), so cargo
# keeps each level's whisper.cpp in its own build directory and everything
# else is built once.
#
# Usage: scripts/package.sh [--skip-setup]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ "${1:-}" != "--skip-setup" ]]; then
  scripts/setup-system.sh
fi
scripts/build-settings-ui.sh

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
arch="$(dpkg --print-architecture)"
if [[ "$arch" != amd64 ]]; then
  echo "package: the package is built for amd64 only (this machine is $arch)" >&2
  exit 1
fi
out="$root/target/package"
bins="$out/bins"
stage="$out/stage"
mkdir -p "$bins"

# level, codegen-units knob, whisper.cpp's instruction sets.
build_level() {
  local level="$1" knob="$2"
  shift 2
  echo "package: building ezflow for $level" >&2
  env GGML_NATIVE=OFF "$@" EZFLOW_CPU_LEVEL="$level" \
    cargo build --profile deb -p ezflow --bin ezflow \
    --config "profile.deb.package.whisper-rs-sys.codegen-units=$knob"
  cp "$root/target/deb/ezflow" "$bins/ezflow-$level"
}
off=(GGML_SSE42=OFF GGML_AVX=OFF GGML_AVX2=OFF GGML_BMI2=OFF GGML_FMA=OFF GGML_F16C=OFF
  GGML_AVX512=OFF GGML_AVX_VNNI=OFF)
v3=(GGML_SSE42=ON GGML_AVX=ON GGML_AVX2=ON GGML_BMI2=ON GGML_FMA=ON GGML_F16C=ON
  GGML_AVX512=OFF GGML_AVX_VNNI=OFF)
v4=(GGML_SSE42=ON GGML_AVX=ON GGML_AVX2=ON GGML_BMI2=ON GGML_FMA=ON GGML_F16C=ON
  GGML_AVX512=ON GGML_AVX_VNNI=OFF)
build_level x86-64 16 "${off[@]}"
build_level x86-64-v3 15 "${v3[@]}"
build_level x86-64-v4 14 "${v4[@]}"

echo "package: building ezflow-settings" >&2
cargo build --profile deb -p ezflow-settings --bin ezflow-settings
cp "$root/target/deb/ezflow-settings" "$bins/ezflow-settings"

rm -rf "$stage"
install -Dm755 "$bins/ezflow-x86-64" "$stage/usr/bin/ezflow"
install -Dm755 "$bins/ezflow-settings" "$stage/usr/bin/ezflow-settings"
install -Dm755 "$bins/ezflow-x86-64-v3" "$stage/usr/lib/ezflow/ezflow-x86-64-v3"
install -Dm755 "$bins/ezflow-x86-64-v4" "$stage/usr/lib/ezflow/ezflow-x86-64-v4"
install -Dm644 packaging/ezflow.desktop "$stage/usr/share/applications/ezflow.desktop"
for size in 16 24 32 48 64 128 256; do
  install -Dm644 "packaging/icons/ezflow-$size.png" \
    "$stage/usr/share/icons/hicolor/${size}x${size}/apps/ezflow.png"
done
install -Dm644 packaging/icons/ezflow.svg "$stage/usr/share/icons/hicolor/scalable/apps/ezflow.svg"
install -Dm644 packaging/ezflow.1 "$stage/usr/share/man/man1/ezflow.1"
install -Dm644 packaging/ezflow-settings.1 "$stage/usr/share/man/man1/ezflow-settings.1"
gzip -9n "$stage/usr/share/man/man1/ezflow.1" "$stage/usr/share/man/man1/ezflow-settings.1"
install -Dm644 packaging/copyright "$stage/usr/share/doc/ezflow/copyright"
install -Dm644 packaging/changelog "$stage/usr/share/doc/ezflow/changelog"
gzip -9n "$stage/usr/share/doc/ezflow/changelog"

# Dependencies: the shared libraries the binaries link, as dpkg-shlibdeps
# finds them (it wants a debian/control to read, so it runs in a scratch
# directory with a minimal one).
scratch="$out/shlibdeps"
rm -rf "$scratch"
mkdir -p "$scratch/debian"
printf 'Source: ezflow\n\nPackage: ezflow\nArchitecture: amd64\n' >"$scratch/debian/control"
depends="$(cd "$scratch" && dpkg-shlibdeps -O \
  "$stage/usr/bin/ezflow" "$stage/usr/bin/ezflow-settings" \
  "$stage/usr/lib/ezflow/ezflow-x86-64-v3" "$stage/usr/lib/ezflow/ezflow-x86-64-v4" |
  sed -n 's/^shlibs:Depends=//p')"
rm -rf "$scratch"

installed_kb="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
mkdir -p "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@DEPENDS@/$depends/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
  packaging/control >"$stage/DEBIAN/control"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums"

deb="$out/ezflow_${version}_${arch}.deb"
rm -f "$out"/ezflow_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB, installed $installed_kb KiB)" >&2
echo "$deb"
