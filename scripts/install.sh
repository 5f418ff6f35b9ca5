#!/bin/sh
# Install sauce-registry and its Docker credential helper from a release, checked against the
# release's SHA256SUMS.
#
#   sh install.sh --from DIR_OR_URL [--dir BINDIR] [--version VERSION] [--target TARGET]
#
#   --from     the release: a folder, or an https:// URL, holding SHA256SUMS and the binaries
#              (plain http:// only from 127.0.0.1, localhost or [::1] on this machine)
#   --dir      where to install; default /usr/local/bin when writable, else ~/.local/bin
#   --version  the version to install (default: the one SHA256SUMS lists)
#   --target   the platform, instead of this machine's: linux-x64, linux-arm64, linux-x64-musl,
#              linux-arm64-musl, darwin-x64, darwin-arm64
#
# Installs BINDIR/sauce-registry and the symlink BINDIR/docker-credential-saucelabs, which
# Docker runs as the credential helper; and, when BINDIR is a bin folder whose sibling
# share/man/man1 exists or can be made, the man page there (man sauce-registry). A file whose
# checksum differs from SHA256SUMS, or a binary that SHA256SUMS does not list, is refused and
# nothing is installed. Exit codes: 0 installed, 1 failure, 2 usage error.
set -eu

TARGETS="linux-x64 linux-arm64 linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64"

say() { printf 'install.sh: %s\n' "$*" >&2; }
# What a user or a file gave, fit for a message: anything unprintable (an escape sequence that
# would drive the terminal) shows as ?.
printable() { printf '%s' "$1" | LC_ALL=C tr -c '[:print:]' '?'; }
fail() {
  say "error: $*"
  exit 1
}
usage_error() {
  say "error: $*"
  say "usage: sh install.sh --from DIR_OR_URL [--dir BINDIR] [--version VERSION] [--target TARGET]"
  exit 2
}

from=
dir=
version=
target=
while [ $# -gt 0 ]; do
  case $1 in
    --from | --dir | --version | --target)
      [ $# -ge 2 ] || usage_error "$1 needs a value"
      option=${1#--}
      value=$2
      shift 2
      ;;
    --from=* | --dir=* | --version=* | --target=*)
      option=${1%%=*}
      option=${option#--}
      value=${1#*=}
      shift
      ;;
    -h | --help)
      sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
      exit 0
      ;;
    *) usage_error "unknown argument: $(printable "$1")" ;;
  esac
  [ -n "$value" ] || usage_error "--$option needs a value"
  case $option in
    from) from=$value ;;
    dir) dir=$value ;;
    version) version=${value#v} ;;
    target) target=$value ;;
  esac
done

# One rule for a version, whether from --version or from a name SHA256SUMS lists: it becomes part
# of a file name and of messages, so a digit first, then letters, digits and . + - only.
is_version() {
  case $1 in
    "" | [!0-9]* | *[!0-9A-Za-z.+-]*) return 1 ;;
  esac
}

[ -n "$from" ] || usage_error "--from is required: the release's folder or URL (where SHA256SUMS is)"
if [ -n "$version" ] && ! is_version "$version"; then
  usage_error "--version expects a version such as 1.2.3, got \"$(printable "$version")\""
fi
if [ -n "$target" ]; then
  case " $TARGETS " in
    *" $target "*) ;;
    *) usage_error "--target expects one of: $TARGETS; got \"$(printable "$target")\"" ;;
  esac
fi

# A release URL names a folder: no user info (user@host tells curl and wget to go to host), no
# query or fragment (the file names are appended to it). Plain http:// only when the host is
# exactly this machine's loopback, so that SHA256SUMS cannot come from another machine unchecked.
case $from in
  http://* | https://*)
    case $from in
      *[!]A-Za-z0-9._~:/%+=,[-]*) usage_error "--from expects a URL of letters, digits and . _ ~ : / % + = , [ ] - only (no user@host, ? or #), got \"$(printable "$from")\"" ;;
    esac
    authority=${from#*://}
    authority=${authority%%/*}
    case $authority in
      \[*) host=${authority%%]*}] ;;
      *) host=${authority%%:*} ;;
    esac
    port=${authority#"$host"}
    case $port in
      "") ;;
      : | :*[!0-9]*) usage_error "--from: the port in $from is not a number" ;;
      :*) ;;
      *) usage_error "--from: $from has a malformed host" ;;
    esac
    [ -n "$host" ] || usage_error "--from: $from names no host"
    case $from in
      http://*)
        case $host in
          127.0.0.1 | localhost | \[::1\]) ;;
          *) usage_error "--from: plain http:// is accepted only from this machine (http://127.0.0.1, http://localhost or http://[::1]), got host $host: use https://" ;;
        esac
        ;;
    esac
    ;;
  *://*) usage_error "--from expects a folder or an https:// URL, got \"$(printable "$from")\"" ;;
  *) [ -d "$from" ] || fail "--from $(printable "$from"): no such folder" ;;
esac

# musl (Alpine) or glibc: glibc answers GNU_LIBC_VERSION; musl's ldd names itself.
is_musl() {
  if getconf GNU_LIBC_VERSION >/dev/null 2>&1; then return 1; fi
  if ldd --version 2>&1 | grep -qi musl; then return 0; fi
  for loader in /lib/ld-musl-*.so.1; do
    if [ -e "$loader" ]; then return 0; fi
  done
  return 1
}

this_target() {
  system=$(uname -s)
  machine=$(uname -m)
  case $system in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    MINGW* | MSYS* | CYGWIN* | Windows_NT)
      fail "on Windows, download sauce-registry-<version>-windows-x64.exe from the release and check it against SHA256SUMS"
      ;;
    *) fail "there is no sauce-registry binary for $system: run it with Deno or Bun instead" ;;
  esac
  case $machine in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) fail "there is no sauce-registry binary for $system on $machine: run it with Deno or Bun instead" ;;
  esac
  # A shell under Rosetta reports x86_64 on an Apple silicon Mac: the native binary is better.
  if [ "$os-$arch" = darwin-x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || :)" = 1 ]; then
    arch=arm64
  fi
  libc=
  if [ "$os" = linux ] && is_musl; then libc=-musl; fi
  echo "$os-$arch$libc"
}

[ -n "$target" ] || target=$(this_target)

source_shown=$(printable "$from")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sauce-registry-install.XXXXXX")
stage=
man_stage=
cleanup() {
  rm -rf "$tmp"
  if [ -n "$stage" ]; then rm -rf "$stage"; fi
  if [ -n "$man_stage" ]; then rm -f "$man_stage"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

# fetch NAME DEST: from the release folder or URL. A redirect must lead to https:// (curl refuses
# others itself; wget follows any, so its record of the answers is read after it).
fetch() {
  case $from in
    http://* | https://*)
      url="${from%/}/$1"
      if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 --proto '=https,http' --proto-redir '=https' -o "$2" "$url"
      elif command -v wget >/dev/null 2>&1; then
        wget -q -S -O "$2" "$url" 2>"$tmp/wget.log" || return 1
        if ! redirects_stay_on_https <"$tmp/wget.log"; then
          rm -f "$2"
          fail "$url was redirected to plain http:// (or to another scheme): refusing it; nothing was installed"
        fi
      else
        fail "downloading needs curl or wget"
      fi
      ;;
    *) [ -f "$from/$1" ] && cp "$from/$1" "$2" ;;
  esac
}

# The server answers wget -S prints (GNU and BusyBox): each Location must be an https:// URL or a
# path on the same server (/…, not //host/…).
redirects_stay_on_https() {
  awk '
    tolower($1) == "location:" {
      target = tolower($2)
      if (target ~ /^https:\/\//) next
      if (target ~ /^\// && target !~ /^\/\//) next
      bad = 1
    }
    END { exit bad }'
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum <"$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 <"$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r <"$1" | cut -d ' ' -f 1
  else
    fail "cannot check the download: no sha256sum, shasum or openssl"
  fi
}

sums="$tmp/SHA256SUMS"
fetch SHA256SUMS "$sums" ||
  fail "cannot get SHA256SUMS from $source_shown: a release holds one beside its binaries"

# The binaries SHA256SUMS lists for this target ("HASH  NAME", or "HASH *NAME" in binary mode).
if [ -z "$version" ]; then
  version=$(awk -v suffix="-$target" '
    { name = $2; sub(/^\*/, "", name) }
    name ~ /^sauce-registry-/ && substr(name, length(name) - length(suffix) + 1) == suffix {
      v = substr(name, 16, length(name) - 15 - length(suffix))
      if (!(v in seen)) { seen[v] = 1; print v }
    }' "$sums")
  [ -n "$version" ] || fail "SHA256SUMS in $source_shown lists no sauce-registry binary for $target"
  set -f # the names are data: no * or ? in them may expand
  for listed in $version; do
    is_version "$listed" ||
      fail "SHA256SUMS in $source_shown names a $target binary whose version is not a version such as 1.2.3 (\"$(printable "$listed")\"); nothing was installed"
  done
  set +f
  case $version in
    *"
"*) fail "SHA256SUMS in $source_shown lists several versions for $target ($(echo "$version" | tr '\n' ' ')): pass --version" ;;
  esac
fi
name="sauce-registry-$version-$target"
expected=$(awk -v name="$name" '$2 == name || $2 == "*" name { print $1 }' "$sums")
case $expected in
  "") fail "SHA256SUMS in $source_shown has no checksum for $name: refusing to install an unchecked binary; nothing was installed" ;;
  *[!0-9a-f]* | *"
"*) fail "SHA256SUMS in $source_shown has a malformed or repeated line for $name; nothing was installed" ;;
esac
[ ${#expected} -eq 64 ] || fail "SHA256SUMS in $source_shown has a malformed checksum for $name; nothing was installed"

# fetch_checked NAME EXPECTED: NAME into $tmp, refused unless its SHA-256 is EXPECTED.
fetch_checked() {
  fetch "$1" "$tmp/$1" || fail "cannot get $1 from $source_shown; nothing was installed"
  actual=$(sha256_of "$tmp/$1")
  [ "$actual" = "$2" ] ||
    fail "checksum mismatch for $1: SHA256SUMS says $2, the download is $actual; nothing was installed"
}
fetch_checked "$name" "$expected"

if [ -z "$dir" ]; then
  if [ -d /usr/local/bin ] && [ -w /usr/local/bin ]; then dir=/usr/local/bin; else dir="${HOME:?HOME is not set: pass --dir}/.local/bin"; fi
fi
dir_shown=$(printable "$dir")

# The man page, when the release has one and BINDIR is a bin folder: into its sibling
# share/man/man1 (where man finds it through PATH), checked like the binary before anything is
# installed. A man folder that cannot be made or written costs a note, not the install.
mandir=
man_expected=$(awk '$2 == "sauce-registry.1" || $2 == "*sauce-registry.1" { print $1 }' "$sums")
case ${dir%/} in
  bin | */bin)
    if [ -n "$man_expected" ]; then
      case $man_expected in
        *[!0-9a-f]* | *"
"*) fail "SHA256SUMS in $source_shown has a malformed or repeated line for sauce-registry.1; nothing was installed" ;;
      esac
      fetch_checked sauce-registry.1 "$man_expected"
      mandir=$(dirname "${dir%/}")
      mandir="${mandir%/}/share/man/man1"
    fi
    ;;
esac

mkdir -p "$dir" || fail "cannot create $dir_shown: pick another folder with --dir"
[ -w "$dir" ] || fail "cannot write to $dir_shown: pick another folder with --dir"
for existing in sauce-registry docker-credential-saucelabs; do
  if [ -d "$dir/$existing" ]; then fail "$dir_shown/$existing is a folder; nothing was installed"; fi
done

if [ -n "$mandir" ]; then
  if ! mkdir -p "$mandir" 2>/dev/null || [ ! -w "$mandir" ] || [ -d "$mandir/sauce-registry.1" ]; then
    say "note: the man page is not installed: cannot write to $(printable "$mandir")"
    mandir=
  fi
fi

# Staged beside the targets, then renamed over them: an interrupted install leaves the old
# version or the new one, never half a file. The staging folder is new (mktemp makes it or
# fails), so no file or link already in BINDIR can redirect what is written.
stage=$(mktemp -d "$dir/.sauce-registry-install.XXXXXX") ||
  fail "cannot create a staging folder in $dir_shown; nothing was installed"
cp "$tmp/$name" "$stage/sauce-registry"
chmod 0755 "$stage/sauce-registry"
ln -s sauce-registry "$stage/docker-credential-saucelabs"
if [ -n "$mandir" ]; then
  # A new file (mktemp makes it or fails): nothing already in the folder can redirect the write.
  man_stage=$(mktemp "$mandir/.sauce-registry.1.XXXXXX") ||
    fail "cannot create a staging file in $(printable "$mandir"); nothing was installed"
  cat "$tmp/sauce-registry.1" >"$man_stage"
  chmod 0644 "$man_stage"
fi
mv -f "$stage/sauce-registry" "$dir/sauce-registry"
mv -f "$stage/docker-credential-saucelabs" "$dir/docker-credential-saucelabs"
rmdir "$stage"
stage=
if [ -n "$mandir" ]; then
  mv -f "$man_stage" "$mandir/sauce-registry.1"
  man_stage=
fi

say "installed sauce-registry $version ($target) in $dir_shown: sauce-registry, and docker-credential-saucelabs linking to it"
if [ -n "$mandir" ]; then say "installed the man page in $(printable "$mandir") (man sauce-registry)"; fi
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *) say "warning: $dir_shown is not on PATH; add it (export PATH=\"$dir_shown:\$PATH\") so that Docker finds the helper" ;;
esac
