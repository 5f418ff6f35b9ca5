// `deno task release`: the compiled binary for every platform, named by target and version, the
// container image (an OCI layout for linux/amd64 and linux/arm64), the SPDX SBOM, and a SHA256SUMS
// that `sha256sum -c` accepts. The formats are checked with `file`, the linux-x64 binary is run,
// the amd64 image runs in a real dockerd (a token, and its credential helper serving skopeo and
// docker pull), and a second release built in a copy of the repository gives the same bytes and
// image digests. One build policy (scripts/build_policy.sh) for release.sh, compile.sh, test.sh
// and deno.json's compile:bun: the pinned Bun, and --bytecode for the build machine's target only.
// The release workflows (.github/workflows/) are held to pinned actions and least permissions.
// Also the Windows naming rules that install-helper and the PATH lookup follow.

import { createHash } from "node:crypto";
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, assert, before, describe, it } from "./deps.ts";
import { DEFAULT_USERS, type StandIn, startStandIn } from "./fixtures/stand_in.ts";
import { OnDemandServices, requireTool, run, type RunResult } from "./fixtures/services.ts";
import { describeResult } from "./fixtures/common.ts";
import { ROOT, SecretScanner, yamlDocuments } from "./fixtures/harness.ts";
import { executableFileName, executableNames, namesFile } from "../src/paths.ts";

const [USER, KEY] = Object.entries(DEFAULT_USERS)[0];

/** Each target, and what `file` says about its binary. */
const FORMATS: Record<string, RegExp> = {
  "linux-x64": /ELF 64-bit LSB executable, x86-64, .*interpreter \/lib64\/ld-linux-x86-64\.so\.2/,
  "linux-arm64": /ELF 64-bit LSB executable, ARM aarch64, .*interpreter \/lib\/ld-linux-aarch64/,
  "linux-x64-musl": /ELF 64-bit LSB executable, x86-64, .*interpreter \/lib\/ld-musl-x86_64\.so\.1/,
  "linux-arm64-musl":
    /ELF 64-bit LSB executable, ARM aarch64, .*interpreter \/lib\/ld-musl-aarch64\.so\.1/,
  "darwin-x64": /Mach-O 64-bit x86_64 executable/,
  "darwin-arm64": /Mach-O 64-bit arm64 executable/,
  "windows-x64": /PE32\+ executable \(console\) x86-64, for MS Windows/,
};

/** A copy of the repository as a fresh clone of this commit (with uncommitted edits) holds it. */
async function copyRepository(to: string): Promise<void> {
  const listed = await run(requireTool("git"), [
    "ls-files",
    "-z",
    "--cached",
    "--others",
    "--exclude-standard",
  ], { cwd: ROOT });
  assert.equal(listed.code, 0, listed.stderr);
  for (const file of listed.stdout.split("\0").filter(Boolean)) {
    const source = join(ROOT, file);
    if (!(await stat(source).catch(() => undefined))?.isFile()) continue; // deleted, not committed
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(source, join(to, file));
  }
}

/** SOURCE_DATE_EPOCH of the releases these tests build: 2025-01-01T00:00:00Z. */
const EPOCH = 1_735_689_600;
const CREATED = "2025-01-01T00:00:00Z";

/** The user the image runs as, and owns the home of. */
const IMAGE_USER = 65532;

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The PEM certificates of a bundle, as a set. */
function certificates(bundle: string): Set<string> {
  return new Set(
    bundle.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [],
  );
}

interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/** An image of the release's OCI layout, as its manifest and config say. */
interface LayoutImage {
  /** `linux/amd64`, `linux/arm64/v8`. */
  platform: string;
  manifestDigest: string;
  config: {
    architecture: string;
    os: string;
    config: { User: string; Entrypoint: string[]; Env: string[]; Cmd?: string[] };
  };
  /** The path of its one layer's blob, extracted. */
  layer: string;
}

/** The OCI image archive, extracted into `into`: its index's digest and ref name, and images. */
async function readLayout(archive: string, into: string): Promise<{
  indexDigest: string;
  refName: string;
  images: LayoutImage[];
}> {
  await mkdir(into, { recursive: true });
  const extracted = await run(requireTool("tar"), ["-xf", archive, "-C", into]);
  assert.equal(extracted.code, 0, extracted.stderr);
  const blob = (digest: string) => join(into, "blobs", "sha256", digest.replace(/^sha256:/, ""));
  const readJson = async (path: string) => JSON.parse(await readFile(path, "utf8"));
  assert.deepEqual(await readJson(join(into, "oci-layout")), { imageLayoutVersion: "1.0.0" });
  const top = await readJson(join(into, "index.json")) as { manifests: OciDescriptor[] };
  assert.equal(top.manifests.length, 1, "index.json names one image index");
  const [entry] = top.manifests;
  assert.equal(entry.mediaType, "application/vnd.oci.image.index.v1+json");
  const index = await readJson(blob(entry.digest)) as { manifests: OciDescriptor[] };
  const images: LayoutImage[] = [];
  for (const descriptor of index.manifests) {
    assert.equal(descriptor.mediaType, "application/vnd.oci.image.manifest.v1+json");
    const manifest = await readJson(blob(descriptor.digest)) as {
      config: OciDescriptor;
      layers: OciDescriptor[];
    };
    assert.equal(manifest.layers.length, 1, "one layer");
    const { os, architecture, variant } = descriptor.platform!;
    images.push({
      platform: [os, architecture, variant].filter(Boolean).join("/"),
      manifestDigest: descriptor.digest,
      config: await readJson(blob(manifest.config.digest)),
      layer: blob(manifest.layers[0].digest),
    });
  }
  return {
    indexDigest: entry.digest,
    refName: entry.annotations?.["org.opencontainers.image.ref.name"] ?? "",
    images,
  };
}

/** Each entry of a gzipped layer: "path" → "mode uid:gid" (and " -> target" for a symlink). */
async function layerListing(layer: string): Promise<Record<string, string>> {
  const listed = await run(requireTool("tar"), ["--numeric-owner", "-tvzf", layer]);
  assert.equal(listed.code, 0, listed.stderr);
  const entries: Record<string, string> = {};
  for (const line of listed.stdout.trim().split("\n")) {
    const match = /^(\S+)\s+(\d+)\/(\d+)\s+\d+\s+\S+\s+\S+\s+(.+?)(?: -> (.+))?$/.exec(line);
    assert.ok(match, `a tar listing line: ${line}`);
    const [, mode, uid, gid, path, target] = match;
    entries[path.replace(/\/$/, "")] = `${mode} ${uid}:${gid}${target ? ` -> ${target}` : ""}`;
  }
  return entries;
}

/**
 * What a layer must hold, and nothing else: the binary, the libraries it links (by soname, the
 * loader included) in the platform's multiarch folder, the loader's path linked to it, the
 * credential helper's link, the CA bundle, the user and group files, the user's home and /tmp.
 */
function expectedLayer(
  multiarch: string,
  libraries: string[],
  loader: { path: string; target: string },
): Record<string, string> {
  const folder = "drwxr-xr-x 0:0";
  const file = "-rw-r--r-- 0:0";
  const expected: Record<string, string> = {
    etc: folder,
    "etc/group": file,
    "etc/nsswitch.conf": file,
    "etc/passwd": file,
    "etc/ssl": folder,
    "etc/ssl/certs": folder,
    "etc/ssl/certs/ca-certificates.crt": file,
    home: folder,
    "home/nonroot": `drwx------ ${IMAGE_USER}:${IMAGE_USER}`,
    lib: folder,
    [`lib/${multiarch}`]: folder,
    "sauce-registry": "-rwxr-xr-x 0:0",
    tmp: "drwxrwxrwt 0:0",
    usr: folder,
    "usr/local": folder,
    "usr/local/bin": folder,
    "usr/local/bin/docker-credential-saucelabs": "lrwxrwxrwx 0:0 -> ../../../sauce-registry",
    [dirname(loader.path)]: folder,
    [loader.path]: `lrwxrwxrwx 0:0 -> ${loader.target}`,
  };
  for (const library of libraries) expected[`lib/${multiarch}/${library}`] = "-rwxr-xr-x 0:0";
  return expected;
}

describe("deno task release", () => {
  let work: string;
  let standIn: StandIn;
  let services: OnDemandServices;
  let release: string;
  let version: string;
  const scanner = new SecretScanner();
  scanner.add(KEY);

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "sr-release-"));
    standIn = await startStandIn();
    services = new OnDemandServices(standIn);
    version = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).version;
    release = join(work, "release");
  });

  after(async () => {
    await services?.stop();
    await standIn?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  function buildRelease(repository: string, out: string): Promise<RunResult> {
    return run(requireTool("bash"), [join(repository, "scripts", "release.sh"), "--out", out], {
      cwd: repository,
      env: { SOURCE_DATE_EPOCH: String(EPOCH) },
      timeoutMs: 900_000,
    });
  }

  const archiveName = () => `sauce-registry-${version}-oci.tar`;
  const sbomName = () => `sauce-registry-${version}.spdx.json`;

  it("builds the same bytes and image digests twice, from two copies of the repository", {
    timeout: 1_800_000,
  }, async () => {
    const denoJson = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8"));
    assert.equal(denoJson.tasks.release, "bash scripts/release.sh");
    const first = await buildRelease(ROOT, release);
    assert.equal(first.code, 0, describeResult(first));
    const copy = join(work, "copy-of-the-repository");
    await copyRepository(copy);
    const again = join(work, "again");
    const second = await buildRelease(copy, again);
    assert.equal(second.code, 0, describeResult(second));
    const sums = await readFile(join(release, "SHA256SUMS"), "utf8");
    assert.equal(await readFile(join(again, "SHA256SUMS"), "utf8"), sums);
    assert.equal(first.stdout, sums, "the script prints SHA256SUMS");
    const digests = async (folder: string) => {
      const layout = await readLayout(join(folder, archiveName()), join(folder, "layout"));
      return [layout.indexDigest, ...layout.images.map((image) => image.manifestDigest)];
    };
    const firstDigests = await digests(release);
    assert.deepEqual(await digests(again), firstDigests, "the index's and images' digests");
    await rm(join(release, "layout"), { recursive: true, force: true });
    await rm(again, { recursive: true, force: true }); // 900 MB
  });

  it("writes SHA256SUMS in sha256sum -c format, covering every file", {
    timeout: 300_000,
  }, async () => {
    const check = await run(requireTool("sha256sum"), ["--strict", "-c", "SHA256SUMS"], {
      cwd: release,
      timeoutMs: 240_000,
    });
    assert.equal(check.code, 0, describeResult(check));
    const names = Object.keys(FORMATS).map((target) =>
      `sauce-registry-${version}-${target}${target.startsWith("windows") ? ".exe" : ""}`
    );
    const expected = [...names, "install.sh", "sauce-registry.1", archiveName(), sbomName()]
      .sort();
    assert.deepEqual(
      check.stdout.trim().split("\n").sort(),
      expected.map((name) => `${name}: OK`).sort(),
    );
    assert.deepEqual((await readdir(release)).sort(), [...expected, "SHA256SUMS"].sort());
    assert.equal(
      await readFile(join(release, "install.sh"), "utf8"),
      await readFile(join(ROOT, "scripts", "install.sh"), "utf8"),
    );
    assert.equal(
      await readFile(join(release, "sauce-registry.1"), "utf8"),
      await readFile(join(ROOT, "docs", "sauce-registry.1"), "utf8"),
    );
  });

  it("gives each binary its platform's format (file)", { timeout: 60_000 }, async () => {
    for (const [target, format] of Object.entries(FORMATS)) {
      const name = `sauce-registry-${version}-${target}${
        target.startsWith("windows") ? ".exe" : ""
      }`;
      const result = await run(requireTool("file"), ["-b", join(release, name)]);
      assert.equal(result.code, 0, describeResult(result));
      assert.match(result.stdout, format, `${name}: ${result.stdout}`);
    }
  });

  it("runs the linux-x64 binary with no runtime on PATH", { timeout: 120_000 }, async () => {
    const binary = join(release, `sauce-registry-${version}-linux-x64`);
    const home = join(work, "home");
    await mkdir(home);
    const env = {
      HOME: home,
      SAUCE_USERNAME: USER,
      SAUCE_ACCESS_KEY: KEY,
      SAUCE_API_URL: standIn.url,
    };
    const shown = await run(binary, ["--version"], { env, inheritEnv: false });
    assert.equal(shown.stdout, `sauce-registry ${version}\n`, describeResult(shown));
    const token = await run(binary, ["token", "--registry", "registry.example.com/team"], {
      env,
      inheritEnv: false,
      cwd: home,
    });
    assert.equal(token.code, 0, describeResult(token));
    assert.equal(JSON.parse(token.stdout).password, standIn.issued.at(-1)!.password);
    scanner.check("binary stderr", token.stderr);
  });

  it(
    "holds an image for linux/amd64 and linux/arm64, each with only the binary, the libraries it links, the helper link, Debian's CA certificates and a non-root user",
    {
      timeout: 300_000,
    },
    async () => {
      const layout = await readLayout(join(release, archiveName()), join(work, "layout"));
      assert.equal(layout.refName, version);
      assert.deepEqual(layout.images.map((image) => image.platform), [
        "linux/amd64",
        "linux/arm64/v8",
      ]);
      // What the amd64 binary links, as the loader says: the same sonames on arm64, its own loader.
      const ldd = await run("ldd", [join(release, `sauce-registry-${version}-linux-x64`)]);
      assert.equal(ldd.code, 0, ldd.stderr);
      const linked = [...ldd.stdout.matchAll(/(\S+\.so(?:\.\d+)*)/g)]
        .map((match) => match[1].split("/").at(-1)!)
        .filter((name) => !name.startsWith("linux-vdso"));
      assert.ok(linked.includes("libc.so.6"), ldd.stdout);
      const shared = [...new Set(linked.filter((name) => !name.startsWith("ld-linux")))];
      const platforms = {
        "linux/amd64": {
          target: "linux-x64",
          expected: expectedLayer("x86_64-linux-gnu", [...shared, "ld-linux-x86-64.so.2"], {
            path: "lib64/ld-linux-x86-64.so.2",
            target: "../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
          }),
        },
        "linux/arm64/v8": {
          target: "linux-arm64",
          expected: expectedLayer("aarch64-linux-gnu", [...shared, "ld-linux-aarch64.so.1"], {
            path: "lib/ld-linux-aarch64.so.1",
            target: "aarch64-linux-gnu/ld-linux-aarch64.so.1",
          }),
        },
      };
      // Debian's Mozilla set, whatever the build machine's own /etc/ssl/certs adds to it.
      const listed = await run("dpkg-query", ["-L", "ca-certificates"]);
      let mozilla = "";
      for (const path of listed.stdout.split("\n")) {
        if (/^\/usr\/share\/ca-certificates\/mozilla\/.+\.crt$/.test(path)) {
          mozilla += await readFile(path, "utf8");
        }
      }
      assert.ok(certificates(mozilla).size > 100, "Debian's ca-certificates lists Mozilla's roots");

      for (const image of layout.images) {
        const { target, expected } = platforms[image.platform as keyof typeof platforms];
        assert.deepEqual(await layerListing(image.layer), expected, image.platform);
        const { config } = image;
        assert.equal(config.os, "linux");
        assert.equal(config.architecture, image.platform.split("/")[1]);
        assert.equal(config.config.User, `${IMAGE_USER}:${IMAGE_USER}`, "numeric: runAsNonRoot");
        assert.deepEqual(config.config.Entrypoint, ["/sauce-registry"]);
        assert.deepEqual(config.config.Env, ["PATH=/usr/local/bin"]);

        const rootfs = join(work, `rootfs-${target}`);
        await mkdir(rootfs);
        const extracted = await run(requireTool("tar"), ["-xzf", image.layer, "-C", rootfs]);
        assert.equal(extracted.code, 0, extracted.stderr);
        assert.equal(
          sha256(await readFile(join(rootfs, "sauce-registry"))),
          sha256(await readFile(join(release, `sauce-registry-${version}-${target}`))),
          `${image.platform}: the release's ${target} binary`,
        );
        const passwd = await readFile(join(rootfs, "etc", "passwd"), "utf8");
        assert.match(
          passwd,
          new RegExp(`^nonroot:x:${IMAGE_USER}:${IMAGE_USER}:[^:]*:/home/nonroot:[^:]*$`, "m"),
        );
        assert.match(await readFile(join(rootfs, "etc", "group"), "utf8"), /^nonroot:x:65532:$/m);
        const bundle = certificates(
          await readFile(join(rootfs, "etc", "ssl", "certs", "ca-certificates.crt"), "utf8"),
        );
        assert.deepEqual([...bundle].sort(), [...certificates(mozilla)].sort(), "Mozilla's roots");
      }
    },
  );

  it("gives the arm64 image an aarch64 binary, and aarch64 libraries at the loader's path (file)", {
    timeout: 60_000,
  }, async () => {
    const rootfs = join(work, "rootfs-linux-arm64");
    const file = async (path: string, follow = false) => {
      const result = await run(requireTool("file"), [follow ? "-bL" : "-b", join(rootfs, path)]);
      assert.equal(result.code, 0, describeResult(result));
      return result.stdout;
    };
    const binary = await file("sauce-registry");
    assert.match(binary, FORMATS["linux-arm64"], binary);
    const loader = /interpreter (\S+),/.exec(binary)![1];
    assert.match(await file(loader, true), /ELF 64-bit LSB shared object, ARM aarch64/, loader);
    for (const library of await readdir(join(rootfs, "lib", "aarch64-linux-gnu"))) {
      const kind = await file(join("lib", "aarch64-linux-gnu", library));
      assert.match(kind, /ELF 64-bit LSB shared object, ARM aarch64/, `${library}: ${kind}`);
    }
  });

  // dockerd starts inside the test: Bun cuts hooks off after 5 s whatever their timeout.
  it(
    "runs the amd64 image in a real dockerd: a token from the stand-in, and its credential helper serving skopeo's push of the image, digests kept, and docker pull",
    {
      timeout: 600_000,
    },
    async () => {
      const docker = requireTool("docker");
      const dockerd = await services.dockerd();
      const registry = await services.registry();
      const image = "sauce-registry-release:test";
      const copied = await run(requireTool("skopeo"), [
        "copy",
        "--dest-daemon-host",
        dockerd.host,
        `oci-archive:${join(release, archiveName())}:${version}`,
        `docker-daemon:${image}`,
      ], { timeoutMs: 300_000 });
      assert.equal(copied.code, 0, describeResult(copied));
      const inspected = await run(docker, [
        "image",
        "inspect",
        image,
        "--format",
        "{{.Os}}/{{.Architecture}} {{.Config.User}}",
      ], { env: dockerd.env });
      assert.equal(inspected.stdout.trim(), `linux/amd64 ${IMAGE_USER}:${IMAGE_USER}`);

      // The key reaches the container through the docker CLI's environment (-e NAME, no value).
      const secrets = { SAUCE_USERNAME: USER, SAUCE_ACCESS_KEY: KEY, SAUCE_API_URL: standIn.url };
      const passed = ["-e", "SAUCE_USERNAME", "-e", "SAUCE_ACCESS_KEY", "-e", "SAUCE_API_URL"];
      const token = await run(docker, [
        "run",
        "--rm",
        "--network",
        "host",
        ...passed,
        image,
        "token",
        "--registry",
        `${registry.host}/team`,
      ], { env: { ...dockerd.env, ...secrets }, timeoutMs: 120_000 });
      assert.equal(token.code, 0, describeResult(token));
      assert.equal(JSON.parse(token.stdout).password, standIn.issued.at(-1)!.password);
      assert.equal(token.stderr, "", "nothing on stderr");
      scanner.check("image token stderr", token.stderr);

      // configure-docker in the image records the registry (and the API it was given) and writes
      // credHelpers, as the image's user.
      const settings = join(work, "container-settings");
      const dockerConfig = join(work, "container-docker-config");
      for (const folder of [settings, dockerConfig]) {
        await mkdir(folder);
        await chown(folder, IMAGE_USER, IMAGE_USER);
      }
      const configured = await run(docker, [
        "run",
        "--rm",
        "-v",
        `${settings}:/settings`,
        "-v",
        `${dockerConfig}:/docker-config`,
        "-e",
        "XDG_CONFIG_HOME=/settings",
        "-e",
        "DOCKER_CONFIG=/docker-config",
        "-e",
        "SAUCE_API_URL",
        image,
        "configure-docker",
        `${registry.host}/team`,
      ], { env: { ...dockerd.env, SAUCE_API_URL: standIn.url }, timeoutMs: 120_000 });
      assert.equal(configured.code, 0, describeResult(configured));
      const config = JSON.parse(await readFile(join(dockerConfig, "config.json"), "utf8"));
      assert.deepEqual(config.credHelpers, { [registry.host]: "saucelabs" });
      assert.equal((await stat(join(dockerConfig, "config.json"))).uid, IMAGE_USER);

      // Docker and skopeo run docker-credential-saucelabs: here, the image's, in a container.
      const bin = join(work, "helper-bin");
      await mkdir(bin);
      const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
      await writeFile(
        join(bin, "docker-credential-saucelabs"),
        `#!/bin/sh\nexec ${
          [
            docker,
            "run",
            "-i",
            "--rm",
            "--network",
            "host",
            ...passed,
            "-e",
            "XDG_CONFIG_HOME=/settings",
            "-v",
            `${settings}:/settings:ro`,
            "--entrypoint",
            "docker-credential-saucelabs",
            image,
          ].map(quote).join(" ")
        } "$@"\n`,
      );
      await chmod(join(bin, "docker-credential-saucelabs"), 0o755);
      const home = join(work, "client-home");
      const runtimeDir = join(work, "client-run");
      await mkdir(home);
      await mkdir(runtimeDir, { mode: 0o700 });
      const clientEnv = {
        ...dockerd.env,
        ...secrets,
        DOCKER_CONFIG: dockerConfig,
        PATH: `${bin}:${process.env.PATH}`,
        HOME: home,
        XDG_RUNTIME_DIR: runtimeDir,
        REGISTRY_AUTH_FILE: undefined,
      };
      // The README's copy into a registry: both platforms, the attested index digest kept.
      const before = standIn.tokenRequestCount();
      const reference = `${registry.host}/team/sauce-registry:${version}`;
      const pushed = await run(requireTool("skopeo"), [
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        `oci-archive:${join(release, archiveName())}:${version}`,
        `docker://${reference}`,
      ], { env: clientEnv, timeoutMs: 300_000 });
      assert.equal(pushed.code, 0, describeResult(pushed));
      const raw = await run(requireTool("skopeo"), [
        "inspect",
        "--raw",
        "--tls-verify=false",
        `docker://${reference}`,
      ], { env: clientEnv, timeoutMs: 120_000 });
      assert.equal(raw.code, 0, describeResult(raw));
      const index = JSON.parse(await readFile(join(work, "layout", "index.json"), "utf8"));
      const rawDigest = `sha256:${sha256(new TextEncoder().encode(raw.stdout))}`;
      assert.equal(rawDigest, index.manifests[0].digest, "the registry has the attested index");
      const pulled = await run(docker, ["pull", reference], { env: clientEnv, timeoutMs: 180_000 });
      assert.equal(pulled.code, 0, describeResult(pulled));
      const ran = await run(docker, ["run", "--rm", reference, "--version"], { env: clientEnv });
      assert.equal(ran.stdout, `sauce-registry ${version}\n`, describeResult(ran));
      assert.ok(standIn.tokenRequestCount() > before, "the helper asked the stand-in");
      for (const result of [pushed, raw, pulled, ran]) {
        scanner.check("client output", describeResult(result));
      }
    },
  );

  it("describes every artifact in an SPDX 2.3 SBOM, with SHA256SUMS's checksums and the Bun that built them", async () => {
    type Package = {
      SPDXID: string;
      name: string;
      versionInfo?: string;
      packageFileName?: string;
      licenseDeclared?: string;
      checksums?: { algorithm: string; checksumValue: string }[];
      externalRefs?: { referenceType: string; referenceLocator: string }[];
    };
    const sbom = JSON.parse(await readFile(join(release, sbomName()), "utf8")) as {
      spdxVersion: string;
      dataLicense: string;
      SPDXID: string;
      documentNamespace: string;
      creationInfo: { created: string; creators: string[] };
      packages: Package[];
      relationships: {
        spdxElementId: string;
        relationshipType: string;
        relatedSpdxElement: string;
      }[];
    };
    assert.equal(sbom.spdxVersion, "SPDX-2.3");
    assert.equal(sbom.dataLicense, "CC0-1.0");
    assert.equal(sbom.SPDXID, "SPDXRef-DOCUMENT");
    assert.match(sbom.documentNamespace, new RegExp(`/releases/download/${version}/`));
    assert.equal(sbom.creationInfo.created, CREATED, "dated SOURCE_DATE_EPOCH");
    const byId = new Map(sbom.packages.map((item) => [item.SPDXID, item]));
    assert.equal(byId.size, sbom.packages.length, "SPDXIDs are unique");
    const related = (from: string, type: string) =>
      sbom.relationships.filter((item) =>
        item.spdxElementId === from && item.relationshipType === type
      ).map((item) => byId.get(item.relatedSpdxElement)!);

    // Every artifact but the SBOM itself, with the checksum SHA256SUMS lists.
    const sums: Record<string, string> = {};
    for (const line of (await readFile(join(release, "SHA256SUMS"), "utf8")).trim().split("\n")) {
      const [hash, name] = line.split(/\s+\*?/);
      if (name !== sbomName()) sums[name] = hash;
    }
    const described: Record<string, string> = {};
    for (const item of related("SPDXRef-DOCUMENT", "DESCRIBES")) {
      const [checksum] = item.checksums!.filter((each) => each.algorithm === "SHA256");
      described[item.packageFileName!] = checksum.checksumValue;
    }
    assert.deepEqual(described, sums);

    // Each binary holds the Bun runtime the build used, and depends on nothing else.
    const bun = (await run(requireTool("bun"), ["--version"])).stdout.trim();
    const binaries = related("SPDXRef-DOCUMENT", "DESCRIBES").filter((item) =>
      Object.keys(FORMATS).some((target) => item.packageFileName!.includes(`-${target}`)) &&
      !item.packageFileName!.endsWith(".tar")
    );
    assert.equal(binaries.length, Object.keys(FORMATS).length);
    for (const binary of binaries) {
      const contents = related(binary.SPDXID, "CONTAINS");
      assert.equal(contents.length, 1, `${binary.packageFileName}: the Bun runtime only`);
      const [runtime] = contents;
      assert.equal(runtime.name, "bun");
      assert.equal(runtime.versionInfo, bun, "the Bun version the build used");
      assert.equal(runtime.licenseDeclared, "MIT");
      assert.match(runtime.externalRefs![0].referenceLocator, /^pkg:npm\/%40oven\/bun-/);
      assert.equal(related(binary.SPDXID, "DEPENDS_ON").length, 0);
    }

    // The image's two platforms, by manifest digest, hold the linux binaries and the Debian
    // packages their files came from, at the versions installed here.
    const layout = await readLayout(join(release, archiveName()), join(work, "sbom-layout"));
    const archive = related("SPDXRef-DOCUMENT", "DESCRIBES").find((item) =>
      item.packageFileName === archiveName()
    )!;
    const platforms = related(archive.SPDXID, "CONTAINS");
    assert.deepEqual(
      platforms.map((item) => `sha256:${item.checksums![0].checksumValue}`),
      layout.images.map((image) => image.manifestDigest),
    );
    for (const platform of platforms) {
      const contents = related(platform.SPDXID, "CONTAINS");
      const binary = contents.find((item) => item.name === "sauce-registry")!;
      assert.ok(binaries.includes(binary), `${platform.SPDXID} holds a release binary`);
      const debian = contents.filter((item) => item !== binary);
      assert.deepEqual(
        debian.map((item) => item.name).sort(),
        [
          binary.packageFileName!.endsWith("-arm64") ? "libc6-arm64-cross" : "libc6",
          "ca-certificates",
        ]
          .sort(),
      );
      for (const item of debian) {
        const name = item.name === "libc6" ? "libc6:amd64" : item.name;
        const installed = await run("dpkg-query", ["-W", "-f", "${Version}", name]);
        assert.equal(item.versionInfo, installed.stdout, item.name);
      }
    }
    const known = new Set([
      ...related("SPDXRef-DOCUMENT", "DESCRIBES"),
      ...binaries.flatMap((binary) => related(binary.SPDXID, "CONTAINS")),
      ...platforms,
      ...platforms.flatMap((platform) => related(platform.SPDXID, "CONTAINS")),
    ]);
    assert.deepEqual(
      sbom.packages.filter((item) => !known.has(item)).map((item) => item.SPDXID),
      [],
      "no other package",
    );
  });

  it("refuses to build when src/version.ts's VERSION is not deno.json's version", {
    timeout: 120_000,
  }, async () => {
    const copy = join(work, "mismatched");
    await copyRepository(copy);
    const mod = join(copy, "src", "version.ts");
    await writeFile(
      mod,
      (await readFile(mod, "utf8")).replace(
        /export const VERSION = "[^"]*";/,
        'export const VERSION = "9.9.9";',
      ),
    );
    const out = join(work, "mismatched-out");
    const result = await buildRelease(copy, out);
    assert.equal(result.code, 1, describeResult(result));
    assert.match(
      result.stderr,
      new RegExp(
        `deno\\.json says version ${version} but src/version\\.ts's VERSION is "9\\.9\\.9"`,
      ),
    );
    assert.equal(await stat(out).catch(() => undefined), undefined, "nothing was built");
  });
});
/** What scripts/build_policy.sh says, read by bash itself. */
async function buildPolicy(repository: string): Promise<{
  bunVersion: string;
  buildMachine: string;
  flags: Record<string, string[]>;
}> {
  const result = await run(requireTool("bash"), [
    "-c",
    'source scripts/build_policy.sh && echo "$BUN_VERSION" && echo "$BUILD_MACHINE" && ' +
    'for target in "${BUN_TARGETS[@]}"; do echo "$target $(bun_build_flags "$target")"; done',
  ], { cwd: repository });
  assert.equal(result.code, 0, describeResult(result));
  const [bunVersion, buildMachine, ...lines] = result.stdout.trim().split("\n");
  const flags: Record<string, string[]> = {};
  for (const line of lines) {
    const [target, ...words] = line.split(" ");
    flags[target] = words;
  }
  return { bunVersion, buildMachine, flags };
}

describe("the build policy", () => {
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "sr-policy-"));
  });

  after(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  /**
   * A `bun` first on PATH that answers `--version` with `version`, records each `bun build` (and
   * writes a small file as its output) and hands everything else to the real Bun.
   */
  async function recordingBun(version: string): Promise<{ path: string; log: string }> {
    const tools = await mkdtemp(join(work, "bun-"));
    const log = join(tools, "builds.log");
    const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;
    await writeFile(
      join(tools, "bun"),
      [
        "#!/bin/sh",
        `case "$1" in`,
        `  --version) echo ${quote(version)} ;;`,
        "  build)",
        `    printf '%s\\n' "$*" >> ${quote(log)}`,
        '    out= previous=; for word; do [ "$previous" = --outfile ] && out=$word; previous=$word; done',
        '    mkdir -p "$(dirname "$out")" && echo "built by the recording bun" > "$out" ;;',
        `  *) exec ${quote(requireTool("bun"))} "$@" ;;`,
        "esac",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    return { path: `${tools}:${process.env.PATH ?? ""}`, log };
  }

  /** Each recorded `bun build`: its target (bun-… less the prefix) and its other flags. */
  async function builds(log: string): Promise<Record<string, string[]>> {
    const recorded: Record<string, string[]> = {};
    for (const line of (await readFile(log, "utf8")).trim().split("\n")) {
      const words = line.split(" ").slice(1);
      const target = words.find((word) => word.startsWith("--target=bun-"))!.slice(13);
      const outfile = words.indexOf("--outfile");
      recorded[target] = words.filter((word, index) =>
        word.startsWith("--") && !word.startsWith("--target=") && index !== outfile
      );
    }
    return recorded;
  }

  it(
    "gives each target the same flags in release.sh and compile.sh, --bytecode to linux-x64 only",
    {
      timeout: 300_000,
    },
    async () => {
      const repository = join(work, "repository");
      await copyRepository(repository);
      const policy = await buildPolicy(repository);
      assert.equal(policy.buildMachine, "linux-x64");
      for (const [target, flags] of Object.entries(policy.flags)) {
        assert.equal(flags.includes("--bytecode"), target === "linux-x64", target);
        assert.ok(flags.includes("--no-compile-autoload-dotenv"), target);
      }

      const released = await recordingBun(policy.bunVersion);
      // No image: the recording Bun's binaries are not ELF files.
      const release = await run(requireTool("bash"), [
        "scripts/release.sh",
        "--out",
        join(work, "out"),
        "--no-image",
      ], {
        cwd: repository,
        env: { PATH: released.path, SOURCE_DATE_EPOCH: String(EPOCH) },
        timeoutMs: 240_000,
      });
      assert.equal(release.code, 0, describeResult(release));
      assert.deepEqual(await builds(released.log), policy.flags, "release.sh");
      assert.ok(
        !(await readdir(join(work, "out"))).some((name) => name.endsWith("-oci.tar")),
        "--no-image",
      );

      const compiled = await recordingBun(policy.bunVersion);
      const compile = await run(requireTool("bash"), ["scripts/compile.sh", "bun"], {
        cwd: repository,
        env: { PATH: compiled.path },
        timeoutMs: 240_000,
      });
      assert.equal(compile.code, 0, describeResult(compile));
      const { "windows-x64": _, ...unixFlags } = policy.flags;
      assert.deepEqual(await builds(compiled.log), unixFlags, "compile.sh bun");
    },
  );

  it("holds deno.json's compile:bun and scripts/test.sh's Bun to the policy", async () => {
    const policy = await buildPolicy(ROOT);
    const task: string[] = JSON.parse(await readFile(join(ROOT, "deno.json"), "utf8")).tasks[
      "compile:bun"
    ].split(/\s+/);
    assert.deepEqual(task.slice(0, 2), ["bun", "build"]);
    const outfile = task.indexOf("--outfile");
    assert.deepEqual(
      task.filter((word, index) => word.startsWith("--") && index !== outfile),
      policy.flags[policy.buildMachine],
      "compile:bun builds for the machine it runs on, with the build machine's flags",
    );
    const testScript = await readFile(join(ROOT, "scripts", "test.sh"), "utf8");
    assert.match(testScript, /^source scripts\/build_policy\.sh\b/m, "test.sh takes BUN_VERSION");
    for (const script of await readdir(join(ROOT, "scripts"))) {
      if (script === "build_policy.sh") continue;
      const text = await readFile(join(ROOT, "scripts", script), "utf8");
      assert.doesNotMatch(
        text,
        /\bBUN_VERSION=|--bytecode/,
        `${script} sets no Bun policy of its own`,
      );
    }
  });

  it(
    "dates the SBOM by the checked-out commit when SOURCE_DATE_EPOCH is not set, and builds the image only with both linux targets",
    {
      timeout: 240_000,
    },
    async () => {
      const repository = join(work, "committed");
      await copyRepository(repository);
      const git = (args: string[]) =>
        run(requireTool("git"), [
          "-c",
          "user.name=Release",
          "-c",
          "user.email=r@example.com",
          ...args,
        ], {
          cwd: repository,
          env: {
            GIT_AUTHOR_DATE: "2024-02-03T04:05:06Z",
            GIT_COMMITTER_DATE: "2024-02-03T04:05:06Z",
          },
        });
      for (const args of [["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "release"]]) {
        const result = await git(args);
        assert.equal(result.code, 0, describeResult(result));
      }
      const { bunVersion } = await buildPolicy(repository);
      const recording = await recordingBun(bunVersion);
      const out = join(work, "committed-out");
      const result = await run(requireTool("bash"), [
        "scripts/release.sh",
        "--out",
        out,
        "linux-x64",
        "darwin-arm64",
      ], {
        cwd: repository,
        env: { PATH: recording.path, SOURCE_DATE_EPOCH: undefined },
        timeoutMs: 180_000,
      });
      assert.equal(result.code, 0, describeResult(result));
      const version = JSON.parse(await readFile(join(repository, "deno.json"), "utf8")).version;
      assert.deepEqual((await readdir(out)).sort(), [
        "SHA256SUMS",
        "install.sh",
        `sauce-registry-${version}-darwin-arm64`,
        `sauce-registry-${version}-linux-x64`,
        `sauce-registry-${version}.spdx.json`,
        "sauce-registry.1",
      ]);
      const sbom = JSON.parse(
        await readFile(join(out, `sauce-registry-${version}.spdx.json`), "utf8"),
      );
      assert.equal(sbom.creationInfo.created, "2024-02-03T04:05:06Z");
    },
  );

  it("refuses to build outside a git checkout without SOURCE_DATE_EPOCH: exit 1, nothing built", {
    timeout: 120_000,
  }, async () => {
    const repository = join(work, "not-a-checkout");
    await copyRepository(repository);
    const { bunVersion } = await buildPolicy(repository);
    const recording = await recordingBun(bunVersion);
    const out = join(work, "not-a-checkout-out");
    const result = await run(requireTool("bash"), ["scripts/release.sh", "--out", out], {
      cwd: repository,
      env: { PATH: recording.path, SOURCE_DATE_EPOCH: undefined },
    });
    assert.equal(result.code, 1, describeResult(result));
    assert.match(result.stderr, /not a git checkout: set SOURCE_DATE_EPOCH/);
    assert.equal(await stat(out).catch(() => undefined), undefined, "nothing was built");
    assert.equal(await stat(recording.log).catch(() => undefined), undefined);
  });

  it("refuses to build with a Bun other than the pinned one: exit 1, nothing built", {
    timeout: 120_000,
  }, async () => {
    const repository = join(work, "other-bun");
    await copyRepository(repository);
    const { bunVersion } = await buildPolicy(repository);
    const other = await recordingBun("1.0.0");
    for (
      const args of [["scripts/release.sh", "--out", join(work, "other-out")], [
        "scripts/compile.sh",
        "bun",
      ]]
    ) {
      const result = await run(requireTool("bash"), args, {
        cwd: repository,
        env: { PATH: other.path },
      });
      assert.equal(result.code, 1, `${args[0]}: ${describeResult(result)}`);
      assert.match(
        result.stderr,
        new RegExp(`bun 1\\.0\\.0 is not the pinned ${bunVersion.replaceAll(".", "\\.")}`),
      );
      assert.equal(await stat(other.log).catch(() => undefined), undefined, "nothing was built");
    }
    assert.equal(await stat(join(work, "other-out")).catch(() => undefined), undefined);
  });
});

/**
 * A GitHub Actions filter pattern (on.push.tags) as a regular expression: `*` is any run of
 * characters but `/`, `**` any run, `+` and `?` repeat the character or class before them, `[…]`
 * is a class, anything else itself.
 */
function githubFilter(pattern: string): RegExp {
  let source = "";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index];
    if (char === "*" && pattern[index + 1] === "*") {
      source += ".*";
      index++;
    } else if (char === "*") source += "[^/]*";
    else if (char === "+" || char === "?") source += char;
    else if (char === "[") {
      const end = pattern.indexOf("]", index);
      source += pattern.slice(index, end + 1);
      index = end;
    } else source += char.replace(/[.\\^$(){}|]/, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

describe("the GitHub workflows", () => {
  type Step = { name?: string; uses?: string; run?: string; with?: Record<string, string> };
  type Job = {
    needs?: string | string[];
    permissions?: Record<string, string>;
    steps: Step[];
  };
  type Workflow = {
    on: { push?: { tags?: string[]; branches?: string[] }; pull_request?: unknown };
    permissions: unknown;
    jobs: Record<string, Job>;
  };

  async function workflow(name: string): Promise<{ text: string; parsed: Workflow }> {
    const text = await readFile(join(ROOT, ".github", "workflows", name), "utf8");
    const [document] = await yamlDocuments(text);
    // PyYAML reads YAML 1.1, where the bare key on: is the boolean true.
    const parsed = { ...document, on: document.on ?? document.true } as unknown as Workflow;
    return { text, parsed };
  }

  const runs = (job: Job) => job.steps.map((step) => step.run ?? "").join("\n");

  it("parse as YAML, pin every action to a full commit with its version beside it, and give each job only the permissions it names", async () => {
    for (const name of ["ci.yml", "release.yml"]) {
      const { text, parsed } = await workflow(name);
      assert.deepEqual(parsed.permissions, {}, `${name}: no permission unless a job names it`);
      assert.ok(Object.keys(parsed.jobs).length > 0, name);
      for (const [id, job] of Object.entries(parsed.jobs)) {
        assert.equal(typeof job.permissions, "object", `${name}: job ${id} declares permissions`);
        for (const level of Object.values(job.permissions!)) {
          assert.ok(["read", "write"].includes(level), `${name}: ${id}: ${level}`);
        }
        for (const step of job.steps) {
          if (step.uses === undefined) continue;
          assert.match(step.uses, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, `${name}: ${step.uses}`);
        }
      }
      const uses = text.split("\n").filter((line) => /^\s*(- )?uses:/.test(line));
      assert.ok(uses.length > 0, name);
      for (const line of uses) {
        assert.match(line, /@[0-9a-f]{40} # v\d+\.\d+\.\d+$/, `${name}: the version: ${line}`);
      }
    }
  });

  it("release on a bare version tag: test, build, attest every artifact and the image, upload, publish to JSR", async () => {
    const { parsed } = await workflow("release.yml");
    const tags = (parsed.on.push?.tags ?? []).map(githubFilter);
    const matches = (tag: string) => tags.some((pattern) => pattern.test(tag));
    for (const tag of ["0.1.0", "1.12.3", "2.0.0-rc.1"]) assert.ok(matches(tag), tag);
    for (const tag of ["v0.1.0", "0.1", "0.1.0.1", "latest", "0.1.0/x"]) {
      assert.ok(!matches(tag), `not ${tag}`);
    }
    assert.equal(parsed.on.push?.branches, undefined, "tags only");

    const { test, release, publish } = parsed.jobs;
    assert.deepEqual(Object.keys(parsed.jobs).sort(), ["publish", "release", "test"]);
    assert.match(runs(test), /^bash scripts\/test\.sh$/m);
    assert.match(runs(test), /deno\.json.*version|version.*deno\.json/s, "the tag is the version");
    assert.deepEqual(test.permissions, { contents: "read" });

    assert.deepEqual([release.needs].flat(), ["test"]);
    assert.deepEqual(release.permissions, {
      contents: "write",
      "id-token": "write",
      attestations: "write",
    });
    const order = (pattern: RegExp) =>
      release.steps.findIndex((step) => pattern.test(`${step.uses ?? ""} ${step.run ?? ""}`));
    const built = order(/deno task release/);
    const attested = release.steps.flatMap((step, index) =>
      step.uses?.startsWith("actions/attest-build-provenance@") ? [{ step, index }] : []
    );
    const uploaded = order(/gh release (create|upload)/);
    assert.ok(built >= 0 && uploaded > built, "built, then uploaded");
    assert.deepEqual(
      attested.map(({ step }) => step.with),
      [
        { "subject-path": "dist/release/*" },
        { "subject-name": "sauce-registry", "subject-digest": "${{ steps.image.outputs.digest }}" },
      ],
      "every file of the release, and the image index",
    );
    for (const { index } of attested) assert.ok(index > built && index < uploaded, "attested");
    assert.match(runs(release), /gh release create "\$GITHUB_REF_NAME" dist\/release\/\*/);

    assert.deepEqual([publish.needs].flat(), ["release"]);
    assert.deepEqual(publish.permissions, { contents: "read", "id-token": "write" });
    assert.match(runs(publish), /^deno publish$/m);
  });

  it("run .ci/run on pushes to main and on pull requests", async () => {
    const { parsed } = await workflow("ci.yml");
    assert.deepEqual(parsed.on.push?.branches, ["main"]);
    assert.ok("pull_request" in parsed.on);
    const jobs = Object.values(parsed.jobs);
    assert.equal(jobs.length, 1);
    assert.match(runs(jobs[0]), /^bash \.ci\/run$/m);
    assert.deepEqual(jobs[0].permissions, { contents: "read" });
  });
});

describe("Windows names", () => {
  it("gives the helper and the binary an .exe name on Windows only", () => {
    assert.equal(
      executableFileName("docker-credential-saucelabs", true),
      "docker-credential-saucelabs.exe",
    );
    assert.equal(
      executableFileName("docker-credential-saucelabs", false),
      "docker-credential-saucelabs",
    );
  });

  it("looks a command up under each PATHEXT extension on Windows, as Windows does", () => {
    assert.deepEqual(executableNames("docker-credential-saucelabs", true, undefined), [
      "docker-credential-saucelabs.com",
      "docker-credential-saucelabs.exe",
      "docker-credential-saucelabs.bat",
      "docker-credential-saucelabs.cmd",
    ]);
    assert.deepEqual(executableNames("docker", true, ".EXE;.CMD"), ["docker.exe", "docker.cmd"]);
    assert.deepEqual(executableNames("docker.exe", true, ".EXE;.CMD"), [
      "docker.exe",
      "docker.exe.exe",
      "docker.exe.cmd",
    ]);
    assert.deepEqual(executableNames("docker", false, ".EXE"), ["docker"]);
  });

  it("tells a command's path from a name on PATH, with \\ a separator only on Windows", () => {
    for (const path of ["./run.sh", "/usr/bin/env", "bin/tool", "C:/tools/run.cmd"]) {
      assert.equal(namesFile(path, false), true, path);
      assert.equal(namesFile(path, true), true, path);
    }
    for (const path of [".\\run.cmd", "C:\\tools\\run.exe", "tools\\run"]) {
      assert.equal(namesFile(path, true), true, path);
      assert.equal(namesFile(path, false), false, path); // a file name with a backslash in it
    }
    for (const name of ["docker", "docker.exe", "run-tests"]) {
      assert.equal(namesFile(name, false), false, name);
      assert.equal(namesFile(name, true), false, name);
    }
  });
});
