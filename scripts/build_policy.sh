# shellcheck shell=bash
# The one build policy for the standalone Bun binaries, sourced by scripts/release.sh,
# scripts/compile.sh and scripts/test.sh: which Bun builds them, on which machine, and which flags
# each target gets. deno.json's compile:bun task (a build for the machine it runs on) holds the
# build machine's flags; tests/release_test.ts fails when it drifts from bun_build_flags.
#
# Reproducible: Bun embeds the output file's name (/$bunfs/root/<name>) and nothing else of the
# build machine, so the same commit, built by the same Bun, gives the same bytes in any clone. So
# the Bun version is pinned, and a build by another one is refused.
#
# --bytecode for the build machine's own target only. JSC bytecode is made by the build machine's
# engine and is not portable across architectures or C libraries (a cross-compiled --bytecode
# binary can crash on its target, oven-sh/bun#24144), so the other targets carry their minified
# source; on linux-x64 bytecode saves several milliseconds on every credential-helper call.
#
# --compile-jit-policy=4 for every target: JavaScriptCore's tier-up thresholds four times higher.
# Every run of the binary is short (a helper call, a login), and at the normal thresholds a cached
# credential-helper get started two JIT worker threads to compile code it ran once; at 4 it starts
# none, and runs about 2% fewer instructions (issue 21).

BUN_VERSION=1.4.5
BUILD_MACHINE=linux-x64
BUN_TARGETS=(linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64
  windows-x64)

# bun_build_flags TARGET: the `bun build` flags for TARGET (a name from BUN_TARGETS), one line.
bun_build_flags() {
  local flags=(--compile --minify)
  [ "$1" = "$BUILD_MACHINE" ] && flags+=(--bytecode)
  flags+=(--format=esm --compile-jit-policy=4 --no-compile-autoload-dotenv
    --no-compile-autoload-bunfig)
  echo "${flags[*]}"
}

# require_build_machine: fails (exit 1) unless this is the build machine with the pinned Bun.
require_build_machine() {
  local here found
  here="$(uname -s)-$(uname -m)"
  if [ "$here" != Linux-x86_64 ]; then
    echo "${0##*/}: build the binaries on $BUILD_MACHINE (this is $here): see scripts/build_policy.sh" >&2
    exit 1
  fi
  if ! command -v bun >/dev/null; then
    echo "${0##*/}: bun is not on PATH: npm install -g bun@$BUN_VERSION" >&2
    exit 1
  fi
  found=$(bun --version)
  if [ "$found" != "$BUN_VERSION" ]; then
    echo "${0##*/}: bun $found is not the pinned $BUN_VERSION, whose bytes a release promises: npm install -g bun@$BUN_VERSION, or put it first on PATH" >&2
    exit 1
  fi
}

# bun_compile TARGET OUTFILE: builds cli.ts for TARGET as the policy says.
bun_compile() {
  local flags
  read -r -a flags <<<"$(bun_build_flags "$1")"
  bun build "${flags[@]}" --target="bun-$1" cli.ts --outfile "$2"
}
