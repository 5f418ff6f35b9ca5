/**
 * Internal: SHA-256 (FIPS 180-4) in plain TypeScript, for the names of the token cache's files.
 * On Deno the first WebCrypto digest costs about 3 ms of start-up (a tenth of a cached credential
 * helper call); this costs microseconds. Checked against NIST's vectors and WebCrypto.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./sha256.ts";
 * sha256Hex("abc"); // "ba7816bf…"
 * ```
 *
 * @module
 */

/**
 * The SHA-256 of a text (UTF-8), in hex.
 *
 * @param text The text.
 * @returns 64 hex digits.
 */
export function sha256Hex(text: string): string {
  return Array.from(
    sha256(new TextEncoder().encode(text)),
    (word) => (word >>> 0).toString(16).padStart(8, "0"),
  ).join("");
}

let sha256Constants: Uint32Array | undefined;

/** SHA-256's 64 round constants: the first 32 bits of the fractions of the first 64 primes' cube roots. */
function roundConstants(): Uint32Array {
  if (sha256Constants) return sha256Constants;
  const primes: number[] = [];
  for (let candidate = 2; primes.length < 64; candidate++) {
    if (primes.every((prime) => candidate % prime !== 0)) primes.push(candidate);
  }
  sha256Constants = Uint32Array.from(primes, (prime) => (Math.cbrt(prime) % 1) * 2 ** 32);
  return sha256Constants;
}

/** SHA-256 (FIPS 180-4) of some bytes, as eight 32-bit words. */
function sha256(bytes: Uint8Array): Uint32Array {
  const k = roundConstants();
  // The initial hash: the first 32 bits of the fractions of the first 8 primes' square roots.
  const hash = Uint32Array.from(
    [2, 3, 5, 7, 11, 13, 17, 19],
    (prime) => (Math.sqrt(prime) % 1) * 2 ** 32,
  );
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bytes.length / 2 ** 29));
  view.setUint32(padded.length - 4, (bytes.length * 8) >>> 0);
  const w = new Uint32Array(64);
  const rotate = (x: number, n: number) => (x >>> n) | (x << (32 - n));
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(offset + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotate(w[i - 15], 7) ^ rotate(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotate(w[i - 2], 17) ^ rotate(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, h] = hash;
    for (let i = 0; i < 64; i++) {
      const t1 = h + (rotate(e, 6) ^ rotate(e, 11) ^ rotate(e, 25)) + ((e & f) ^ (~e & g)) + k[i] +
        w[i];
      const t2 = (rotate(a, 2) ^ rotate(a, 13) ^ rotate(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      [h, g, f, e, d, c, b, a] = [g, f, e, (d + t1) | 0, c, b, a, (t1 + t2) | 0];
    }
    hash[0] += a;
    hash[1] += b;
    hash[2] += c;
    hash[3] += d;
    hash[4] += e;
    hash[5] += f;
    hash[6] += g;
    hash[7] += h;
  }
  return hash;
}
