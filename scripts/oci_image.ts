/**
 * The release's container image, written from the release binaries with no container tool and no
 * `RUN` step: an OCI image layout in one tar archive whose index names an image for linux/amd64
 * and one for linux/arm64, so the arm64 image is built on the x64 build machine without emulation.
 * scripts/release.sh runs it after the binaries are built:
 *
 * ```sh
 * bun scripts/oci_image.ts --check                   # the Debian packages it takes files from
 * bun scripts/oci_image.ts --release DIR --version 0.1.0 --epoch 1735689600 > image.json
 * ```
 *
 * Each image is one layer: the glibc binary as `/sauce-registry` (the entrypoint), exactly the
 * shared libraries it links (read from its ELF dynamic section, taken from Debian's `libc6` for
 * amd64 and `libc6-arm64-cross` for arm64), `/usr/local/bin/docker-credential-saucelabs` as a
 * symlink to it, the Mozilla CA certificates of Debian's `ca-certificates` package, and the
 * non-root user `nonroot` (65532:65532) with its home. The musl builds would need a musl
 * `libstdc++`, which Debian does not ship.
 *
 * Reproducible: every tar entry is sorted, owned by a fixed uid/gid with no user names, and dated
 * `--epoch` (SOURCE_DATE_EPOCH); the layer is compressed by the pinned Bun's zlib; the JSON has a
 * fixed key order. The same binaries and Debian packages give the same digests. The CA bundle is
 * made from the package's own files, not the build machine's `/etc/ssl/certs`, which holds
 * whatever local authorities that machine trusts.
 *
 * On stdout: a JSON description of what went in (the archive, each image's digest and the
 * packages and files it took), which scripts/sbom.ts turns into the release's SBOM.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { open, readFile, realpath } from "node:fs/promises";
import { basename, dirname, join, posix } from "node:path";
import process from "node:process";
import { gzipSync } from "node:zlib";

/** The uid and gid the image runs as: distroless's `nonroot`, numeric so `runAsNonRoot` can check it. */
export const IMAGE_USER = 65532;

/** Where the binary is in the image, and its entrypoint. */
export const IMAGE_ENTRYPOINT = "/sauce-registry";

/** The credential helper's symlink, on the image's PATH. */
export const IMAGE_HELPER = "/usr/local/bin/docker-credential-saucelabs";

/** The CA bundle in the image, where OpenSSL, Go and Node look on Debian-like systems. */
export const IMAGE_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

/** The Debian package whose Mozilla certificates make {@link IMAGE_CA_FILE}. */
const CA_PACKAGE = "ca-certificates";
const CA_FOLDER = "/usr/share/ca-certificates/mozilla/";

const SOURCE = "https://github.com/saucelabs-community/sauce-registry";

/** One image of the index: which release binary, and where its C library comes from. */
interface Platform {
  /** OCI `architecture`. */
  architecture: "amd64" | "arm64";
  /** OCI `variant`, when the architecture has one. */
  variant?: string;
  /** The release target whose binary the image holds. */
  target: string;
  /** ELF `e_machine` of that target. */
  machine: number;
  /** The Debian package (as dpkg-query names it) holding the libraries, on the x64 build machine. */
  libraryPackage: string;
  /** Where that package puts them on the build machine. */
  libraryFolder: string;
  /** Where they go in the image: the multiarch folder the target's loader searches. */
  imageLibraryFolder: string;
}

/** The images of the index, in its order. */
export const PLATFORMS: readonly Platform[] = [
  {
    architecture: "amd64",
    target: "linux-x64",
    machine: 62, // EM_X86_64
    libraryPackage: "libc6:amd64",
    libraryFolder: "/lib/x86_64-linux-gnu",
    imageLibraryFolder: "/lib/x86_64-linux-gnu",
  },
  {
    architecture: "arm64",
    variant: "v8",
    target: "linux-arm64",
    machine: 183, // EM_AARCH64
    libraryPackage: "libc6-arm64-cross",
    libraryFolder: "/usr/aarch64-linux-gnu/lib",
    imageLibraryFolder: "/lib/aarch64-linux-gnu",
  },
];

/** A Debian package that files of an image come from. */
export interface DebianPackage {
  name: string;
  version: string;
  architecture: string;
  /** The paths in the image that came from it. */
  files: string[];
}

/** What {@linkcode buildImage} wrote, for the SBOM. */
export interface ImageReport {
  /** The archive's file name in the release folder. */
  archive: string;
  /** The digest of the image index the archive's `index.json` names. */
  indexDigest: string;
  /** The `org.opencontainers.image.ref.name` of that index: the version. */
  refName: string;
  /** The build machine's distribution (os-release `ID`, `VERSION_ID`), whose packages went in. */
  distribution: { id: string; version: string };
  images: {
    /** `linux/amd64`, `linux/arm64/v8`. */
    platform: string;
    architecture: string;
    /** The release binary it holds as {@link IMAGE_ENTRYPOINT}. */
    binary: string;
    manifestDigest: string;
    packages: DebianPackage[];
  }[];
}

/** An entry of a tar archive: a regular file, a folder or a symlink. */
export interface TarEntry {
  /** The path, relative, without a leading `/` or `./` (a folder's without a trailing `/`). */
  path: string;
  type: "file" | "directory" | "symlink";
  mode: number;
  uid?: number;
  gid?: number;
  data?: Uint8Array;
  /** A symlink's target. */
  target?: string;
}

/** The error of this script: a message for the person running the release. */
export class ImageBuildError extends Error {
  /** @param message What is wrong, and what to do. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ImageBuildError";
  }
}

/**
 * A POSIX ustar archive of `entries`, sorted by path whatever their order, each dated `mtime`
 * (seconds) and owned by its uid/gid (default 0) with empty user and group names, so that the
 * same entries always give the same bytes.
 *
 * @param entries The files, folders and symlinks.
 * @param mtime Every entry's modification time, in seconds since the epoch.
 * @returns The archive, ending in two zero blocks.
 */
export function tarArchive(entries: readonly TarEntry[], mtime: number): Uint8Array<ArrayBuffer> {
  const sorted = [...entries].sort((a, b) => compareBytes(entryName(a), entryName(b)));
  const size = sorted.reduce((sum, entry) => sum + 512 + padded(entry.data?.length ?? 0), 1024);
  const archive = new Uint8Array(size);
  let offset = 0;
  for (const entry of sorted) {
    archive.set(tarHeader(entry, mtime), offset);
    offset += 512;
    if (entry.type === "file") {
      archive.set(entry.data!, offset);
      offset += padded(entry.data!.length);
    }
  }
  return archive;
}

function entryName(entry: TarEntry): string {
  return entry.type === "directory" ? `${entry.path}/` : entry.path;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function padded(length: number): number {
  return Math.ceil(length / 512) * 512;
}

function tarHeader(entry: TarEntry, mtime: number): Uint8Array {
  const header = new Uint8Array(512);
  const encoder = new TextEncoder();
  const put = (offset: number, length: number, text: string) => {
    const bytes = encoder.encode(text);
    if (bytes.length > length) {
      throw new ImageBuildError(`Cannot write a tar entry: ${text} is too long`);
    }
    header.set(bytes, offset);
  };
  const octal = (offset: number, length: number, value: number) =>
    put(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  if (entry.type === "file" && entry.data === undefined) {
    throw new ImageBuildError(`Cannot write a tar entry: ${entry.path} has no data`);
  }
  put(0, 100, entryName(entry));
  octal(100, 8, entry.mode);
  octal(108, 8, entry.uid ?? 0);
  octal(116, 8, entry.gid ?? 0);
  octal(124, 12, entry.type === "file" ? entry.data!.length : 0);
  octal(136, 12, mtime);
  put(148, 8, "        "); // the checksum counts its own field as spaces
  put(156, 1, { file: "0", symlink: "2", directory: "5" }[entry.type]);
  if (entry.type === "symlink") put(157, 100, entry.target!);
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  octal(329, 8, 0); // devmajor
  octal(337, 8, 0); // devminor
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  put(148, 8, checksum.toString(8).padStart(6, "0") + "\0 ");
  return header;
}

/** What a dynamically linked ELF file asks of the loader. */
export interface ElfLinking {
  /** `e_machine`. */
  machine: number;
  /** `PT_INTERP`: the loader's path, for an executable. */
  interpreter?: string;
  /** `DT_NEEDED`: the shared libraries, by soname. */
  needed: string[];
}

/**
 * Reads the machine, the loader and the needed libraries of a 64-bit little-endian ELF file.
 *
 * @param bytes The whole file.
 * @param name Its name, for the error.
 * @returns What it links.
 * @throws {ImageBuildError} When it is not a 64-bit little-endian ELF file.
 */
export function elfLinking(bytes: Uint8Array, name: string): ElfLinking {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isElf64 = bytes.length >= 64 && view.getUint32(0) === 0x7f454c46 && bytes[4] === 2 &&
    bytes[5] === 1;
  if (!isElf64) throw new ImageBuildError(`${name} is not a 64-bit little-endian ELF file`);
  const machine = view.getUint16(18, true);
  const programHeaders = Number(view.getBigUint64(32, true));
  const headerSize = view.getUint16(54, true);
  const headerCount = view.getUint16(56, true);
  const segments = Array.from({ length: headerCount }, (_, index) => {
    const at = programHeaders + index * headerSize;
    return {
      type: view.getUint32(at, true),
      offset: Number(view.getBigUint64(at + 8, true)),
      address: Number(view.getBigUint64(at + 16, true)),
      fileSize: Number(view.getBigUint64(at + 32, true)),
    };
  });
  const text = (offset: number) => {
    const end = bytes.indexOf(0, offset);
    return new TextDecoder().decode(bytes.subarray(offset, end));
  };
  const interp = segments.find((segment) => segment.type === 3); // PT_INTERP
  const dynamic = segments.find((segment) => segment.type === 2); // PT_DYNAMIC
  const result: ElfLinking = { machine, needed: [] };
  if (interp) result.interpreter = text(interp.offset);
  if (!dynamic) return result;
  const entries: [bigint, number][] = [];
  for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.fileSize; at += 16) {
    const tag = view.getBigInt64(at, true);
    if (tag === 0n) break; // DT_NULL
    entries.push([tag, Number(view.getBigUint64(at + 8, true))]);
  }
  // DT_STRTAB is an address: the file offset is where the PT_LOAD segment holding it maps it.
  const table = entries.find(([tag]) => tag === 5n)?.[1];
  const load = segments.find((segment) =>
    segment.type === 1 && table !== undefined && table >= segment.address &&
    table < segment.address + segment.fileSize
  );
  if (table === undefined || !load) {
    throw new ImageBuildError(`${name} has a dynamic section without its string table`);
  }
  const strings = load.offset + table - load.address;
  for (const [tag, value] of entries) {
    if (tag === 1n) result.needed.push(text(strings + value)); // DT_NEEDED
  }
  return result;
}

/** What `dpkg-query` says of an installed package: its version, architecture and files. */
function installedPackage(
  name: string,
): { version: string; architecture: string; files: string[] } {
  let answer: string;
  try {
    answer = execFileSync(
      "dpkg-query",
      ["-W", "-f", "${db:Status-Status} ${Version} ${Architecture}\n", name],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] },
    );
  } catch (error) {
    throw new ImageBuildError(
      `Cannot build the container image: Debian's ${name} is not installed (apt-get install ${
        name.split(":")[0]
      })`,
      { cause: error },
    );
  }
  const [status, version, architecture] = answer.trim().split(" ");
  if (status !== "installed") {
    throw new ImageBuildError(
      `Cannot build the container image: Debian's ${name} is ${status}, not installed (apt-get install ${
        name.split(":")[0]
      })`,
    );
  }
  const files = execFileSync("dpkg-query", ["-L", name], { encoding: "utf8" }).split("\n")
    .filter(Boolean);
  return { version, architecture, files };
}

/** Every Debian package the images take files from, as dpkg-query names them. */
export function imagePackages(): string[] {
  return [...PLATFORMS.map((platform) => platform.libraryPackage), CA_PACKAGE];
}

/** The real path of each existing file a package lists (usrmerge moved /lib under /usr). */
async function realPaths(files: string[]): Promise<Set<string>> {
  const paths = new Set<string>();
  for (const file of files) {
    const real = await realpath(file).catch(() => undefined);
    if (real) paths.add(real);
  }
  return paths;
}

/**
 * The loader and libraries `binary` links, and the libraries they link, as image entries, each
 * from `platform`'s Debian package (a library found elsewhere is refused).
 */
async function linkedLibraries(
  platform: Platform,
  binary: Uint8Array,
  name: string,
): Promise<{ entries: TarEntry[]; debian: DebianPackage }> {
  const linking = elfLinking(binary, name);
  if (linking.machine !== platform.machine) {
    throw new ImageBuildError(
      `${name} is for ELF machine ${linking.machine}, not ${platform.architecture} (${platform.machine})`,
    );
  }
  if (!linking.interpreter) throw new ImageBuildError(`${name} names no loader (PT_INTERP)`);
  const installed = installedPackage(platform.libraryPackage);
  const owned = await realPaths(installed.files);
  const entries: TarEntry[] = [];
  const files: string[] = [];
  const pending = [...linking.needed, basename(linking.interpreter)];
  const seen = new Set<string>();
  while (pending.length > 0) {
    const soname = pending.shift()!;
    if (seen.has(soname)) continue;
    seen.add(soname);
    const source = join(platform.libraryFolder, soname);
    const real = await realpath(source).catch(() => undefined);
    if (!real || !owned.has(real)) {
      throw new ImageBuildError(
        `Cannot build the container image: ${name} links ${soname}, which ${platform.libraryPackage} does not hold in ${platform.libraryFolder}`,
      );
    }
    const data = new Uint8Array(await readFile(real));
    pending.push(...elfLinking(data, real).needed);
    const path = posix.join(platform.imageLibraryFolder, soname);
    entries.push({ path: path.slice(1), type: "file", mode: 0o755, data });
    files.push(path);
  }
  // The loader at the path the binary names, as Debian links it: into the multiarch folder.
  const loader = posix.join(platform.imageLibraryFolder, basename(linking.interpreter));
  if (linking.interpreter !== loader) {
    entries.push({
      path: linking.interpreter.slice(1),
      type: "symlink",
      mode: 0o777,
      target: posix.relative(posix.dirname(linking.interpreter), loader),
    });
    files.push(linking.interpreter);
  }
  const [packageName] = platform.libraryPackage.split(":");
  return {
    entries,
    debian: {
      name: packageName,
      version: installed.version,
      architecture: installed.architecture,
      files: files.sort(),
    },
  };
}

/** Debian's Mozilla certificates, one PEM after another in file-name order. */
async function caBundle(): Promise<{ data: Uint8Array; debian: DebianPackage }> {
  const installed = installedPackage(CA_PACKAGE);
  const certificates = installed.files
    .filter((file) => file.startsWith(CA_FOLDER) && file.endsWith(".crt"))
    .sort(compareBytes);
  if (certificates.length === 0) {
    throw new ImageBuildError(
      `Cannot build the container image: ${CA_PACKAGE} lists no ${CA_FOLDER}*.crt`,
    );
  }
  const parts: Uint8Array[] = [];
  for (const file of certificates) {
    const pem = new Uint8Array(await readFile(file));
    parts.push(pem);
    if (pem.at(-1) !== 0x0a) parts.push(new Uint8Array([0x0a]));
  }
  return {
    data: new Uint8Array(Buffer.concat(parts)),
    debian: {
      name: CA_PACKAGE,
      version: installed.version,
      architecture: installed.architecture,
      files: [IMAGE_CA_FILE],
    },
  };
}

/** The files every image holds besides the binary and its libraries. */
function baseEntries(caCertificates: Uint8Array): TarEntry[] {
  const text = (value: string) => new TextEncoder().encode(value);
  const home = `/home/nonroot`;
  const folders = ["etc", "etc/ssl", "etc/ssl/certs", "home", "usr", "usr/local", "usr/local/bin"];
  return [
    ...folders.map((path): TarEntry => ({ path, type: "directory", mode: 0o755 })),
    {
      path: "etc/passwd",
      type: "file",
      mode: 0o644,
      data: text(
        `root:x:0:0:root:/root:/sbin/nologin\n` +
          `nonroot:x:${IMAGE_USER}:${IMAGE_USER}:nonroot:${home}:/sbin/nologin\n`,
      ),
    },
    {
      path: "etc/group",
      type: "file",
      mode: 0o644,
      data: text(`root:x:0:\nnonroot:x:${IMAGE_USER}:\n`),
    },
    // /etc/hosts (a pod's hostAliases, Docker's --add-host) before DNS, as on any distribution.
    { path: "etc/nsswitch.conf", type: "file", mode: 0o644, data: text("hosts: files dns\n") },
    { path: IMAGE_CA_FILE.slice(1), type: "file", mode: 0o644, data: caCertificates },
    // The token cache lives in the home folder: the user's alone, as the cache requires.
    {
      path: home.slice(1),
      type: "directory",
      mode: 0o700,
      uid: IMAGE_USER,
      gid: IMAGE_USER,
    },
    { path: "tmp", type: "directory", mode: 0o1777 },
    {
      path: IMAGE_HELPER.slice(1),
      type: "symlink",
      mode: 0o777,
      // Relative, so it also holds where the image's files are mounted elsewhere.
      target: posix.relative(posix.dirname(IMAGE_HELPER), IMAGE_ENTRYPOINT),
    },
  ];
}

/** The folders that lead to each entry, for the entries whose folders are not listed. */
function withParentFolders(entries: TarEntry[]): TarEntry[] {
  const listed = new Set(entries.map((entry) => entry.path));
  const folders: TarEntry[] = [];
  for (const entry of entries) {
    for (let folder = dirname(entry.path); folder !== "."; folder = dirname(folder)) {
      if (listed.has(folder)) continue;
      listed.add(folder);
      folders.push({ path: folder, type: "directory", mode: 0o755 });
    }
  }
  return [...entries, ...folders];
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function json(value: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** A content-addressed blob, its descriptor and bytes. */
interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  bytes: Uint8Array;
}

function blob(mediaType: string, bytes: Uint8Array): Blob {
  return { mediaType, digest: sha256(bytes), size: bytes.length, bytes };
}

function descriptor({ mediaType, digest, size }: Blob): Record<string, unknown> {
  return { mediaType, digest, size };
}

/** Options of {@linkcode buildImage}. */
export interface BuildImageOptions {
  /** The release folder holding the binaries; the archive is written there. */
  release: string;
  /** The release's version (the image's tag). */
  version: string;
  /** SOURCE_DATE_EPOCH: every timestamp, in seconds. */
  epoch: number;
}

/**
 * Writes `sauce-registry-<version>-oci.tar` into the release folder from its linux-x64 and
 * linux-arm64 binaries.
 *
 * @param options The release folder, the version and the timestamp.
 * @returns What went in, for the SBOM.
 * @throws {ImageBuildError} When a binary, a library or a Debian package is missing or wrong.
 */
export async function buildImage(options: BuildImageOptions): Promise<ImageReport> {
  const { release, version, epoch } = options;
  const created = new Date(epoch * 1000).toISOString().replace(".000Z", "Z");
  const ca = await caBundle();
  const blobs: Blob[] = [];
  const images: ImageReport["images"] = [];
  const manifests: Record<string, unknown>[] = [];
  for (const platform of PLATFORMS) {
    const binaryName = `sauce-registry-${version}-${platform.target}`;
    const binary = new Uint8Array(await readFile(join(release, binaryName)));
    const libraries = await linkedLibraries(platform, binary, binaryName);
    const layerTar = tarArchive(
      withParentFolders([
        ...baseEntries(ca.data),
        ...libraries.entries,
        { path: IMAGE_ENTRYPOINT.slice(1), type: "file", mode: 0o755, data: binary },
      ]),
      epoch,
    );
    const layer = blob("application/vnd.oci.image.layer.v1.tar+gzip", gzipSync(layerTar));
    const labels = {
      "org.opencontainers.image.created": created,
      "org.opencontainers.image.description":
        "Short-lived Sauce Labs Container Registry tokens: the sauce-registry command and docker-credential-saucelabs",
      "org.opencontainers.image.licenses": "MIT",
      "org.opencontainers.image.source": SOURCE,
      "org.opencontainers.image.title": "sauce-registry",
      "org.opencontainers.image.version": version,
    };
    const config = blob(
      "application/vnd.oci.image.config.v1+json",
      json({
        created,
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        os: "linux",
        config: {
          User: `${IMAGE_USER}:${IMAGE_USER}`,
          Env: [`PATH=${posix.dirname(IMAGE_HELPER)}`],
          Entrypoint: [IMAGE_ENTRYPOINT],
          Cmd: ["--help"],
          Labels: labels,
        },
        rootfs: { type: "layers", diff_ids: [sha256(layerTar)] },
        history: [{ created, created_by: "scripts/oci_image.ts (no RUN step)" }],
      }),
    );
    const manifest = blob(
      "application/vnd.oci.image.manifest.v1+json",
      json({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: descriptor(config),
        layers: [descriptor(layer)],
        annotations: labels,
      }),
    );
    blobs.push(layer, config, manifest);
    const platformField = {
      architecture: platform.architecture,
      os: "linux",
      ...(platform.variant ? { variant: platform.variant } : {}),
    };
    manifests.push({ ...descriptor(manifest), platform: platformField });
    images.push({
      platform: ["linux", platform.architecture, platform.variant].filter(Boolean).join("/"),
      architecture: platform.architecture,
      binary: binaryName,
      manifestDigest: manifest.digest,
      packages: [libraries.debian, ca.debian],
    });
  }
  const index = blob(
    "application/vnd.oci.image.index.v1+json",
    json({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests,
      annotations: {
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.source": SOURCE,
        "org.opencontainers.image.version": version,
      },
    }),
  );
  blobs.push(index);
  const archive = `sauce-registry-${version}-oci.tar`;
  await writeLayout(join(release, archive), blobs, {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
      ...descriptor(index),
      annotations: {
        "org.opencontainers.image.ref.name": version,
        // The name `docker load` gives the image (with the containerd image store).
        "io.containerd.image.name": `docker.io/library/sauce-registry:${version}`,
      },
    }],
  }, epoch);
  return {
    archive,
    indexDigest: index.digest,
    refName: version,
    distribution: await distribution(),
    images,
  };
}

/** The build machine's os-release `ID` and `VERSION_ID` (debian, 12). */
async function distribution(): Promise<{ id: string; version: string }> {
  const release = await readFile("/etc/os-release", "utf8").catch(() => "");
  const field = (name: string) =>
    new RegExp(`^${name}="?([^"\n]*)"?$`, "m").exec(release)?.[1] ?? "unknown";
  return { id: field("ID"), version: field("VERSION_ID") };
}

/** The OCI layout as one tar archive: oci-layout, index.json and the blobs, sorted. */
async function writeLayout(
  path: string,
  blobs: Blob[],
  index: Record<string, unknown>,
  epoch: number,
): Promise<void> {
  const unique = new Map(blobs.map((item) => [item.digest, item]));
  const entries: TarEntry[] = [
    { path: "blobs", type: "directory", mode: 0o755 },
    { path: "blobs/sha256", type: "directory", mode: 0o755 },
    ...[...unique.values()].map((item): TarEntry => ({
      path: `blobs/sha256/${item.digest.slice("sha256:".length)}`,
      type: "file",
      mode: 0o644,
      data: item.bytes,
    })),
    { path: "index.json", type: "file", mode: 0o644, data: json(index) },
    { path: "oci-layout", type: "file", mode: 0o644, data: json({ imageLayoutVersion: "1.0.0" }) },
  ];
  const file = await open(path, "wx", 0o644);
  try {
    await file.write(tarArchive(entries, epoch));
  } finally {
    await file.close();
  }
}

function usage(): never {
  process.stderr.write(
    "usage: bun scripts/oci_image.ts --check | --release DIR --version VERSION --epoch SECONDS\n",
  );
  process.exit(2);
}

async function main(args: string[]): Promise<void> {
  if (args.length === 1 && args[0] === "--check") {
    for (const name of imagePackages()) installedPackage(name);
    return;
  }
  const given: Record<string, string> = {};
  for (let index = 0; index < args.length; index += 2) {
    const [name, value] = [args[index], args[index + 1]];
    if (!["--release", "--version", "--epoch"].includes(name) || value === undefined) usage();
    given[name.slice(2)] = value;
  }
  if (!given.release || !given.version || !/^\d+$/.test(given.epoch ?? "")) usage();
  const report = await buildImage({
    release: given.release,
    version: given.version,
    epoch: Number(given.epoch),
  });
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof ImageBuildError)) throw error;
    process.stderr.write(`oci_image: ${error.message}\n`);
    process.exit(1);
  }
}
