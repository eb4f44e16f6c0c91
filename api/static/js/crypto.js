// SHA-256 and Ed25519 verification for the pages: WebCrypto first, vendored noble second.
//
// WebCrypto exists only in secure contexts (HTTPS, localhost), and Ed25519 in it only
// in recent browsers (Chromium 137+, Firefox 129+, Safari 17+). Elsewhere the pages
// load @noble/ed25519 and @noble/hashes from /static/vendor/ (never from a CDN), and
// only then, so the first load stays small. `lastEd25519` says which one answered;
// pages show it and tests read it from the DOM.

const VENDOR = new URL("../vendor/", import.meta.url);
let noble = null;
export let lastEd25519 = null;

async function loadNoble() {
  if (!noble) {
    const [ed, sha2] = await Promise.all([
      import(new URL("noble-ed25519/index.js", VENDOR).href),
      import(new URL("noble-hashes/sha2.js", VENDOR).href),
    ]);
    ed.hashes.sha512 = sha2.sha512;
    ed.hashes.sha512Async = async (m) => sha2.sha512(m);
    noble = { ed, sha2 };
  }
  return noble;
}

function subtle() {
  return globalThis.crypto && globalThis.crypto.subtle ? globalThis.crypto.subtle : null;
}

export async function sha256(bytes) {
  const s = subtle();
  if (s) return new Uint8Array(await s.digest("SHA-256", bytes));
  const { sha2 } = await loadNoble();
  return sha2.sha256(bytes);
}

async function verifyWebCrypto(publicKey, signature, message) {
  const s = subtle();
  if (!s) throw new Error("no WebCrypto here (not a secure context)");
  const key = await s.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  return s.verify({ name: "Ed25519" }, key, signature, message);
}

/**
 * Whether `signature` is a valid Ed25519 signature of `message` by `publicKey`.
 * A WebCrypto answer is final (true or false); only a WebCrypto that cannot do
 * Ed25519 at all (throws) hands over to the fallback, which verifies strictly
 * (RFC 8032, not ZIP-215), as the server's library does.
 */
export async function ed25519Verify(publicKey, signature, message) {
  try {
    const ok = await verifyWebCrypto(publicKey, signature, message);
    lastEd25519 = "webcrypto";
    return ok;
  } catch (_) {
    const { ed } = await loadNoble();
    lastEd25519 = "fallback";
    try {
      return ed.verify(signature, message, publicKey, { zip215: false });
    } catch (_) {
      return false;
    }
  }
}
