/**
 * The release's bill of materials, `sauce-registry-<version>.spdx.json` (SPDX 2.3), made from the
 * release folder by scripts/release.sh after the binaries, the installer and the image:
 *
 * ```sh
 * bun scripts/sbom.ts --release DIR --version 0.1.0 --epoch 1735689600 [--image image.json]
 * ```
 *
 * It names every artifact with its SHA-256 (the checksum SHA256SUMS then lists), and what each
 * holds: a binary is the Bun runtime of its target (the version and license of the Bun that runs
 * this script, the one the release was built with) and sauce-registry's own code, which depends on
 * nothing else; the container image (described by scripts/oci_image.ts's report) holds the
 * linux binaries and the Debian packages its files came from. Reproducible: nothing in it but the
 * artifacts, the Bun, the packages and `--epoch` (SOURCE_DATE_EPOCH), in a fixed order.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, realpath, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { ImageReport } from "./oci_image.ts";

const REPOSITORY = "saucelabs-community/sauce-registry";
const SOURCE = `https://github.com/${REPOSITORY}`;

/**
 * The licenses of the Debian packages the image takes files from, as their copyright files say:
 * glibc's libraries are LGPL-2.1+; ca-certificates ships Mozilla's certificates (MPL-2.0) and
 * GPL-2+ scripts, which are not in the image.
 */
const DEBIAN_LICENSES: Readonly<Record<string, string>> = {
  "libc6": "LGPL-2.1-or-later",
  "libc6-arm64-cross": "LGPL-2.1-or-later",
  "ca-certificates": "MPL-2.0",
};

/** The error of this script: a message for the person running the release. */
export class SbomError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "SbomError";
  }
}

/** The Bun that builds the release: its version, and its license as its npm package declares it. */
export interface BunRuntime {
  version: string;
  license: string;
}

/** A release target's Bun runtime package on npm, which `bun build --compile` embeds. */
export function bunPackage(target: string): string {
  const [os, arch, libc] = target.split("-");
  return `@oven/bun-${os}-${arch === "arm64" ? "aarch64" : arch}${libc ? `-${libc}` : ""}`;
}

/**
 * The Bun running this script, from its npm package (`bun/package.json` beside `bin/bun.exe`),
 * which is how scripts/build_policy.sh says to install it.
 *
 * @throws {SbomError} When this is not Bun, or not a Bun installed from npm.
 */
export async function runningBun(): Promise<BunRuntime> {
  const version = process.versions.bun;
  if (!version) throw new SbomError("Cannot name the Bun runtime: run this script with Bun");
  const manifest = join(dirname(await realpath(process.execPath)), "..", "package.json");
  const found = await readFile(manifest, "utf8").then(JSON.parse).catch(() => undefined) as
    | { name?: string; version?: string; license?: string }
    | undefined;
  if (found?.name !== "bun" || found.version !== version || !found.license) {
    throw new SbomError(
      `Cannot name the Bun runtime's license: ${manifest} is not bun@${version}'s package.json (install Bun from npm: npm install -g bun@${version})`,
    );
  }
  return { version, license: found.license };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

/** An SPDX package, as far as this SBOM fills it. */
type SpdxPackage = Record<string, unknown> & { SPDXID: string };

/** Options of {@linkcode releaseSbom}. */
export interface ReleaseSbomOptions {
  /** The release folder. */
  release: string;
  /** The release's version. */
  version: string;
  /** SOURCE_DATE_EPOCH: the document's creation time, in seconds. */
  epoch: number;
  /** The Bun the binaries were built with. */
  bun: BunRuntime;
  /** What scripts/oci_image.ts put in the image, when the release has one. */
  image?: ImageReport;
  /** sauce-registry's license (deno.json's). */
  license: string;
  /** LICENSE's copyright line. */
  copyright: string;
}

/**
 * The SPDX 2.3 document for every file in the release folder but SHA256SUMS and the SBOM itself.
 *
 * @param options The folder, version, time, Bun and image.
 * @returns The document.
 * @throws {SbomError} When the folder holds a file that is not an artifact of this version.
 */
export async function releaseSbom(options: ReleaseSbomOptions): Promise<Record<string, unknown>> {
  const { release, version, bun, image } = options;
  const created = new Date(options.epoch * 1000).toISOString().replace(".000Z", "Z");
  const sbomName = `sauce-registry-${version}.spdx.json`;
  const prefix = `sauce-registry-${version}-`;
  const files = (await readdir(release))
    .filter((name) => name !== "SHA256SUMS" && name !== sbomName)
    .sort();
  const packages: SpdxPackage[] = [];
  const relationships: {
    spdxElementId: string;
    relationshipType: string;
    relatedSpdxElement: string;
  }[] = [];
  const relate = (from: string, type: string, to: string) =>
    relationships.push({ spdxElementId: from, relationshipType: type, relatedSpdxElement: to });
  const binaries = new Map<string, string>(); // file name → SPDXID
  const artifact = async (
    id: string,
    file: string,
    fields: Record<string, unknown>,
  ): Promise<void> => {
    packages.push({
      SPDXID: id,
      name: "sauce-registry",
      versionInfo: version,
      packageFileName: file,
      downloadLocation: `${SOURCE}/releases/download/${version}/${file}`,
      filesAnalyzed: false,
      checksums: [{ algorithm: "SHA256", checksumValue: await sha256File(join(release, file)) }],
      licenseConcluded: "NOASSERTION",
      licenseDeclared: options.license,
      copyrightText: options.copyright,
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: `pkg:github/${REPOSITORY}@${version}`,
      }],
      ...fields,
    });
    relate("SPDXRef-DOCUMENT", "DESCRIBES", id);
  };

  for (const file of files) {
    const target = file.startsWith(prefix) ? file.slice(prefix.length).replace(/\.exe$/, "") : "";
    if (file === "install.sh") {
      await artifact("SPDXRef-install-sh", file, {
        name: "sauce-registry-installer",
        primaryPackagePurpose: "INSTALL",
        comment: "The POSIX shell installer: it checks a binary against SHA256SUMS and installs it",
      });
    } else if (file === "sauce-registry.1") {
      await artifact("SPDXRef-man-page", file, {
        name: "sauce-registry-man-page",
        primaryPackagePurpose: "DOCUMENTATION",
        comment: "The manual page (roff), generated from the command table by deno task docs",
      });
    } else if (image && file === image.archive) {
      await artifact("SPDXRef-image", file, {
        primaryPackagePurpose: "CONTAINER",
        comment:
          `An OCI image layout whose index (${image.indexDigest}, ref.name ${image.refName}) names an image for ${
            image.images.map((each) => each.platform).join(" and ")
          }`,
      });
    } else if (/^(linux|darwin|windows)-(x64|arm64)(-musl)?$/.test(target)) {
      const id = `SPDXRef-sauce-registry-${target}`;
      await artifact(id, file, {
        primaryPackagePurpose: "APPLICATION",
        comment:
          `The standalone binary for ${target}, built by bun build --compile: the Bun runtime and sauce-registry's bundled code, which depends on nothing else`,
      });
      binaries.set(file, id);
      const runtimeId = `SPDXRef-bun-${target}`;
      const npm = bunPackage(target);
      const tarball = `${npm.split("/")[1]}-${bun.version}.tgz`;
      packages.push({
        SPDXID: runtimeId,
        name: "bun",
        versionInfo: bun.version,
        supplier: "Organization: Oven",
        downloadLocation: `https://registry.npmjs.org/${npm}/-/${tarball}`,
        filesAnalyzed: false,
        licenseConcluded: "NOASSERTION",
        licenseDeclared: bun.license,
        licenseComments:
          "As Bun's npm package declares it; Bun's LICENSE.md names the libraries it links statically, among them JavaScriptCore (LGPL-2.0)",
        copyrightText: "NOASSERTION",
        primaryPackagePurpose: "FRAMEWORK",
        externalRefs: [{
          referenceCategory: "PACKAGE-MANAGER",
          referenceType: "purl",
          referenceLocator: `pkg:npm/${npm.replace("@", "%40")}@${bun.version}`,
        }],
        comment: `The Bun runtime that bun build --compile embeds in the ${target} binary`,
      });
      relate(id, "CONTAINS", runtimeId);
    } else {
      throw new SbomError(
        `Cannot describe ${file}: it is not an artifact of sauce-registry ${version} (binaries, install.sh, the man page, the image)`,
      );
    }
  }

  for (const each of image?.images ?? []) {
    const id = `SPDXRef-image-${each.platform.replaceAll("/", "-")}`;
    const hex = each.manifestDigest.replace(/^sha256:/, "");
    packages.push({
      SPDXID: id,
      name: "sauce-registry-image",
      versionInfo: version,
      downloadLocation: "NOASSERTION",
      filesAnalyzed: false,
      checksums: [{ algorithm: "SHA256", checksumValue: hex }],
      licenseConcluded: "NOASSERTION",
      licenseDeclared: "NOASSERTION",
      copyrightText: "NOASSERTION",
      primaryPackagePurpose: "CONTAINER",
      externalRefs: [{
        referenceCategory: "PACKAGE-MANAGER",
        referenceType: "purl",
        referenceLocator: `pkg:oci/sauce-registry@sha256%3A${hex}?arch=${each.architecture}`,
      }],
      comment:
        `The ${each.platform} image (its manifest's digest): ${each.binary} as /sauce-registry, docker-credential-saucelabs linked to it, the files below, and a non-root user`,
    });
    relate("SPDXRef-image", "CONTAINS", id);
    const binary = binaries.get(each.binary);
    if (!binary) {
      throw new SbomError(`Cannot describe the image: the release has no ${each.binary}`);
    }
    relate(id, "CONTAINS", binary);
    for (const debian of each.packages) {
      const debianId = `SPDXRef-deb-${debian.name}-${debian.architecture}`;
      if (!packages.some((known) => known.SPDXID === debianId)) {
        packages.push({
          SPDXID: debianId,
          name: debian.name,
          versionInfo: debian.version,
          supplier: "Organization: Debian",
          downloadLocation: "NOASSERTION",
          filesAnalyzed: false,
          licenseConcluded: "NOASSERTION",
          licenseDeclared: DEBIAN_LICENSES[debian.name] ?? "NOASSERTION",
          copyrightText: "NOASSERTION",
          primaryPackagePurpose: "LIBRARY",
          externalRefs: [{
            referenceCategory: "PACKAGE-MANAGER",
            referenceType: "purl",
            referenceLocator: `pkg:deb/${image!.distribution.id}/${debian.name}@${
              encodeURIComponent(debian.version)
            }?arch=${debian.architecture}&distro=${image!.distribution.id}-${
              image!.distribution.version
            }`,
          }],
          comment: `Files in the images: ${debian.files.join(", ")}`,
        });
      }
      relate(id, "CONTAINS", debianId);
    }
  }

  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `sauce-registry-${version}`,
    documentNamespace: `${SOURCE}/releases/download/${version}/${sbomName}`,
    creationInfo: {
      created,
      creators: [`Tool: sauce-registry-scripts-sbom.ts-${version}`, `Tool: bun-${bun.version}`],
      comment:
        `The artifacts of the sauce-registry ${version} release, as scripts/release.sh built them`,
    },
    packages,
    relationships,
  };
}

function usage(): never {
  process.stderr.write(
    "usage: bun scripts/sbom.ts --release DIR --version VERSION --epoch SECONDS [--image REPORT]\n",
  );
  process.exit(2);
}

async function main(args: string[]): Promise<void> {
  const given: Record<string, string> = {};
  for (let index = 0; index < args.length; index += 2) {
    const [name, value] = [args[index], args[index + 1]];
    if (!["--release", "--version", "--epoch", "--image"].includes(name) || value === undefined) {
      usage();
    }
    given[name.slice(2)] = value;
  }
  if (!given.release || !given.version || !/^\d+$/.test(given.epoch ?? "")) usage();
  const root = fileURLToPath(new URL("..", import.meta.url));
  const denoJson = JSON.parse(await readFile(join(root, "deno.json"), "utf8"));
  const copyright = (await readFile(join(root, "LICENSE"), "utf8")).split("\n")
    .find((line) => line.startsWith("Copyright")) ?? "NOASSERTION";
  const document = await releaseSbom({
    release: given.release,
    version: given.version,
    epoch: Number(given.epoch),
    bun: await runningBun(),
    image: given.image ? JSON.parse(await readFile(given.image, "utf8")) : undefined,
    license: denoJson.license,
    copyright,
  });
  const path = join(given.release, `sauce-registry-${given.version}.spdx.json`);
  await writeFile(path, JSON.stringify(document, null, 2) + "\n", { flag: "wx", mode: 0o644 });
}

if (import.meta.main) {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof SbomError)) throw error;
    process.stderr.write(`sbom: ${error.message}\n`);
    process.exit(1);
  }
}
