// Bytes and their text forms: strict base64 (standard and URL-safe), hex, base32, UTF-8.
// Pure: no I/O, no DOM. Parsers refuse what the Python side would not produce.

export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
    this.code = "format";
  }
}

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const STD_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL_RE = /^[A-Za-z0-9_-]*$/;

export function b64encode(bytes) {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += STD[(n >> 18) & 63] + STD[(n >> 12) & 63];
    out += i + 1 < bytes.length ? STD[(n >> 6) & 63] : "=";
    out += i + 2 < bytes.length ? STD[n & 63] : "=";
  }
  return out;
}

function decodeDigits(text) {
  const out = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text) {
    acc = (acc << 6) | STD.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 255);
    }
  }
  return new Uint8Array(out);
}

/** Strict standard base64: alphabet, padding and canonical trailing bits. */
export function b64decode(text, what = "base64") {
  if (typeof text !== "string" || !STD_RE.test(text)) {
    throw new FormatError(`${what} is not valid base64`);
  }
  const bytes = decodeDigits(text.replace(/=+$/, ""));
  if (b64encode(bytes) !== text) throw new FormatError(`${what} is not canonical base64`);
  return bytes;
}

/** URL-safe base64, with or without padding (canonical trailing bits). */
export function b64urlDecode(text, what = "base64url") {
  if (typeof text !== "string") throw new FormatError(`${what} is missing`);
  const bare = text.replace(/={1,2}$/, "");
  if (!URL_RE.test(bare) || bare.length % 4 === 1) {
    throw new FormatError(`${what} is not valid base64url`);
  }
  if (bare.length !== text.length && text.length % 4 !== 0) {
    throw new FormatError(`${what} has wrong padding`);
  }
  const std = bare.replaceAll("-", "+").replaceAll("_", "/");
  return b64decode(std + "=".repeat((4 - (std.length % 4)) % 4), what);
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lowercase base32 (RFC 4648 alphabet) without padding, canonical trailing bits. */
export function b32decode(text, what = "base32") {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  if (!/^[a-z2-7]*$/.test(text)) throw new FormatError(`${what} is not base32`);
  const out = [];
  let acc = 0;
  let bits = 0;
  for (const ch of text) {
    acc = ((acc << 5) | alphabet.indexOf(ch)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 255);
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) {
    throw new FormatError(`${what} is not canonical base32`);
  }
  return new Uint8Array(out);
}

const encoder = new TextEncoder();

export function utf8(text) {
  return encoder.encode(text);
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
