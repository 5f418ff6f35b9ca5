/**
 * Internal: SHA-256 (FIPS 180-4) in plain TypeScript, for the names of the token cache's files.
 * On Deno the first WebCrypto digest costs about 3 ms of start-up (a tenth of a cached credential
 * helper call); this costs a fraction of that. Checked against NIST's vectors and WebCrypto.
 *
 * It runs once per process, so it is written for a cold engine, which interprets it: the
 * constants are a table, the rounds keep their state in locals (no closures, no destructuring),
 * and the hex digits come from a loop. With a closure and an array destructured per round and
 * the constants computed from the primes, the first call took Deno 2.4 to 3.7 ms.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./sha256.ts";
 * sha256Hex("abc"); // "ba7816bf…"
 * ```
 *
 * @module
 */

/** The round constants: the first 32 bits of the fractions of the first 64 primes' cube roots. */
const K: readonly number[] = [
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
];

/** The initial hash: the first 32 bits of the fractions of the first 8 primes' square roots. */
const H0: readonly number[] = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];

const HEX = "0123456789abcdef";

/**
 * The SHA-256 of a text (UTF-8), in hex.
 *
 * @param text The text.
 * @returns 64 hex digits.
 */
export function sha256Hex(text: string): string {
  const hash = sha256(new TextEncoder().encode(text));
  let hex = "";
  for (let i = 0; i < 8; i++) {
    const word = hash[i];
    for (let shift = 28; shift >= 0; shift -= 4) hex += HEX[(word >>> shift) & 15];
  }
  return hex;
}

/** SHA-256 (FIPS 180-4) of some bytes, as eight 32-bit words. */
function sha256(bytes: Uint8Array): Int32Array {
  const hash = Int32Array.from(H0);
  const length = Math.ceil((bytes.length + 9) / 64) * 64;
  const padded = new Uint8Array(length);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const bits = bytes.length * 8;
  const high = Math.floor(bits / 2 ** 32);
  for (let i = 0; i < 4; i++) {
    padded[length - 8 + i] = (high >>> (24 - 8 * i)) & 0xff;
    padded[length - 4 + i] = (bits >>> (24 - 8 * i)) & 0xff;
  }
  const w = new Int32Array(64);
  for (let offset = 0; offset < length; offset += 64) {
    for (let i = 0; i < 16; i++) {
      const at = offset + i * 4;
      w[i] = (padded[at] << 24) | (padded[at + 1] << 16) | (padded[at + 2] << 8) | padded[at + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = w[i - 15];
      const y = w[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0;
    }
    let a = hash[0], b = hash[1], c = hash[2], d = hash[3];
    let e = hash[4], f = hash[5], g = hash[6], h = hash[7];
    for (let i = 0; i < 64; i++) {
      const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) | 0;
      const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
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
