#!/usr/bin/env bash
# Build the release: one standalone binary per platform, the installer, the man page, and SHA256SUMS.
#
#   deno task release                        # every target, into dist/release/
#   bash scripts/release.sh [--out DIR] [TARGET]...
#
# Targets: linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64
# windows-x64. Each binary is named sauce-registry-<version>-<target> (.exe for Windows), the
# version taken from deno.json, which must equal VERSION in src/version.ts.
#
# Which Bun (pinned: a build by another version is refused), on which machine, and the flags of
# each target: scripts/build_policy.sh, shared with scripts/compile.sh. Bun fetches each target's
# runtime from the npm registry the first time. Tag the release's commit with the version as it is
# (0.1.0, no "v"): the tag README's install, GitHub Action and GitLab recipes name.
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
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out)
      [ $# -ge 2 ] || { echo "release: --out needs a folder" >&2; exit 2; }
      out=$2
      default_out=0
      shift 2
      ;;
    -h | --help)
      sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "release: unknown option $1 (expected --out DIR and target names)" >&2
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

# sha256sum -c format, in a fixed order whatever the locale.
(cd "$out" && LC_ALL=C ls | grep -v '^SHA256SUMS$' | LC_ALL=C sort | xargs sha256sum -- >SHA256SUMS)
echo "Release $version in $out:" >&2
cat "$out/SHA256SUMS"
