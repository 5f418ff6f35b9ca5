#!/usr/bin/env bash
# Build the release: one standalone binary per platform, the installer, the man page, the container
# image, the SBOM and SHA256SUMS.
#
#   deno task release                        # every target, into dist/release/
#   bash scripts/release.sh [--out DIR] [--no-image] [TARGET]...
#
# Targets: linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64
# windows-x64. Each binary is named sauce-registry-<version>-<target> (.exe for Windows), the
# version taken from deno.json, which must equal VERSION in src/version.ts. With linux-x64 and
# linux-arm64 (unless --no-image): sauce-registry-<version>-oci.tar, an OCI image layout holding an
# image for linux/amd64 and linux/arm64 (scripts/oci_image.ts). Always: the SPDX 2.3 SBOM
# sauce-registry-<version>.spdx.json (scripts/sbom.ts). Timestamps are SOURCE_DATE_EPOCH, else
# the time of the checked-out commit.
#
# Which Bun (pinned: a build by another version is refused), on which machine, and the flags of
# each target: scripts/build_policy.sh, shared with scripts/compile.sh. Bun fetches each target's
# runtime from the npm registry the first time. The image takes the C library and the CA
# certificates from Debian packages of the build machine (libc6, libc6-arm64-cross,
# ca-certificates), which the SBOM names with their versions. Tag the release's commit with the
# version as it is (0.1.0, no "v"): the tag README's install, GitHub Action and GitLab recipes and
# .github/workflows/release.yml name.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/build_policy.sh
ALL_TARGETS=("${BUN_TARGETS[@]}")

fail() {
  echo "release: $*" >&2
  exit 1
}

out=dist/release
default_out=1
image=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      [ $# -ge 2 ] || { echo "release: --out needs a folder" >&2; exit 2; }
      out=$2
      default_out=0
      shift 2
      ;;
    --no-image)
      image=0
      shift
      ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "release: unknown option $1 (expected --out DIR, --no-image and target names)" >&2
      exit 2
      ;;
    *)
      case " ${ALL_TARGETS[*]} " in
        *" $1 "*) targets+=("$1") ;;
        *)
          echo "release: unknown target $1: expected one of ${ALL_TARGETS[*]}" >&2
          exit 2
          ;;
      esac
      shift
      ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")

require_build_machine
command -v sha256sum >/dev/null || fail "sha256sum is not on PATH (coreutils)"

version=$(bun -e 'console.log(JSON.parse(require("fs").readFileSync("deno.json", "utf8")).version)')
mod_version=$(sed -n 's/^export const VERSION = "\(.*\)";$/\1/p' src/version.ts)
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.+-]+)?$ ]] ||
  fail "deno.json's version \"$version\" is not a semantic version"
[ "$version" = "$mod_version" ] ||
  fail "deno.json says version $version but src/version.ts's VERSION is \"$mod_version\": make them equal"

# Every timestamp in the image and the SBOM: SOURCE_DATE_EPOCH (reproducible-builds.org), else
# the commit's time, so that two builds of a commit agree.
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
  epoch=$SOURCE_DATE_EPOCH
elif [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)" ]; then
  epoch=$(git log -1 --format=%ct)
else
  fail "not a git checkout: set SOURCE_DATE_EPOCH to the release commit's time (seconds since 1970), which the image and the SBOM are dated"
fi
[[ "$epoch" =~ ^[0-9]+$ ]] || fail "SOURCE_DATE_EPOCH \"$epoch\" is not a number of seconds"

for needed in linux-x64 linux-arm64; do
  case " ${targets[*]} " in
    *" $needed "*) ;;
    *) image=0 ;;
  esac
done
# Before the long build: the Debian packages the image takes its files from.
[ "$image" = 0 ] || bun scripts/oci_image.ts --check || exit 1

if [ "$default_out" = 1 ]; then
  rm -rf "$out"
elif [ -e "$out" ] && [ -n "$(ls -A "$out")" ]; then
  fail "$out is not empty: give a new or empty folder"
fi
mkdir -p "$out"

for target in "${targets[@]}"; do
  name="sauce-registry-$version-$target"
  [ "$target" = windows-x64 ] && name="$name.exe"
  echo "== $name" >&2
  bun_compile "$target" "$out/$name" >&2
done
cp scripts/install.sh "$out/install.sh"
cp docs/sauce-registry.1 "$out/sauce-registry.1" # the man page, which install.sh installs too
chmod 0644 "$out/install.sh" "$out/sauce-registry.1"

sbom_args=(--release "$out" --version "$version" --epoch "$epoch")
if [ "$image" = 1 ]; then
  echo "== sauce-registry-$version-oci.tar" >&2
  report=$(mktemp)
  trap 'rm -f "$report"' EXIT
  bun scripts/oci_image.ts --release "$out" --version "$version" --epoch "$epoch" >"$report"
  sbom_args+=(--image "$report")
fi
echo "== sauce-registry-$version.spdx.json" >&2
bun scripts/sbom.ts "${sbom_args[@]}"

# sha256sum -c format, in a fixed order whatever the locale.
(cd "$out" && LC_ALL=C ls | grep -v '^SHA256SUMS$' | LC_ALL=C sort | xargs sha256sum -- >SHA256SUMS)
echo "Release $version in $out:" >&2
cat "$out/SHA256SUMS"
