#!/usr/bin/env bash
# Build standalone binaries of sauce-registry for every platform users run it on.
#
#   bash scripts/compile.sh deno   # deno compile: linux x86_64/aarch64, macOS x86_64/arm64
#   bash scripts/compile.sh bun    # bun build --compile: linux glibc and musl (Alpine), macOS
#
# Release binaries (every platform, Windows included, with SHA256SUMS): scripts/release.sh.
#
# Each binary lands in dist/<runtime>/<target>/. deno compile downloads the runtime base for a
# target from Deno's servers, so it needs the internet; Bun fetches its targets' runtimes from the
# npm registry. The Bun builds follow scripts/build_policy.sh, as releases do: the pinned Bun, on
# linux x64, bytecode for the linux-x64 target only.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tool needs, no more: the network (the Sauce API), environment variables (credentials,
# settings), reading and writing files (configs, cache), running tools (docker, podman, …), and
# the user id (install-helper picks its default folder by it). Never --env-file: a binary must not
# read a .env file it was not asked to.
DENO_PERMISSIONS=(--allow-net --allow-env --allow-read --allow-write --allow-run --allow-sys=uid)

case "${1:-}" in
  deno)
    for target in x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-apple-darwin \
      aarch64-apple-darwin; do
      deno compile --no-npm "${DENO_PERMISSIONS[@]}" --target "$target" \
        --output "dist/deno/$target/sauce-registry" cli.ts
    done
    ;;
  bun)
    source scripts/build_policy.sh
    require_build_machine
    for target in linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64; do
      bun_compile "$target" "dist/bun/bun-$target/sauce-registry"
    done
    ;;
  *)
    echo "usage: bash scripts/compile.sh deno|bun" >&2
    exit 2
    ;;
esac
ls -l dist/"$1"/*/
