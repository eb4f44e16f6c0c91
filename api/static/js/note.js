// C2SP signed notes and tlog checkpoints, checked in the browser.
//
// A port of ledger/note.py and ledger/checkpoint.py (parse strictly, then verify):
// verifier keys `name+<hex key id>+<base64(0x01 || key)>`, key id
// SHA-256(name || 0x0A || 0x01 || key)[:4], signature lines
// `— <name> <base64(key id || signature)>`, the signed message being the note text up
// to and including the newline before the blank line. No I/O; failures throw NoteError.

import { b64decode, concat, equal, hex, utf8 } from "./bytes.js";
import { ed25519Verify, sha256 } from "./crypto.js";

export class NoteError extends Error {
  constructor(message) {
    super(message);
    this.name = "NoteError";
    this.code = "note";
  }
}

const CONTROL = /[\x00-\x09\x0b-\x1f]/;
const SIG_PREFIX = "\u2014 ";
const MAX_SIGNATURES = 100;
const SIZE_RE = /^(0|[1-9][0-9]{0,19})$/;
const MAX_TREE_SIZE = (1n << 64n) - 1n;

function checkName(name) {
  if (!name || /[\s+]/u.test(name) || CONTROL.test(name)) {
    throw new NoteError(`key name ${JSON.stringify(name)} is empty or has a space or '+'`);
  }
}

async function b64(text, what) {
  try {
    return b64decode(text, what);
  } catch (e) {
    throw new NoteError(e.message);
  }
}

export async function keyId(name, publicKey) {
  const digest = await sha256(concat(utf8(name), new Uint8Array([0x0a, 0x01]), publicKey));
  return digest.slice(0, 4);
}

/** Parse `name+<8 hex>+<base64(0x01 || 32-byte key)>` and check the key id. */
export async function parseVkey(vkey) {
  const first = vkey.indexOf("+");
  const second = first < 0 ? -1 : vkey.indexOf("+", first + 1);
  if (second < 0) throw new NoteError("verifier key must be name+id+key");
  const name = vkey.slice(0, first);
  const idHex = vkey.slice(first + 1, second);
  checkName(name);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new NoteError("verifier key id must be 8 hex digits");
  const raw = await b64(vkey.slice(second + 1), "verifier key");
  if (raw.length !== 33 || raw[0] !== 0x01) throw new NoteError("not an Ed25519 verifier key");
  const publicKey = raw.slice(1);
  const id = await keyId(name, publicKey);
  if (hex(id) !== idHex) throw new NoteError(`verifier key id does not match key ${name}`);
  return { name, keyId: id, publicKey, vkey };
}

/** Decode a fetched note's bytes: valid UTF-8 only, a byte order mark kept as text. */
export function decodeNote(bytes) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (_) {
    throw new NoteError("note is not valid UTF-8");
  }
}

/** Split a signed note into its text and signature lines, strictly; verify nothing. */
export async function parseNote(note) {
  if (CONTROL.test(note)) throw new NoteError("note contains a control character");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new NoteError("note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (!block.endsWith("\n")) throw new NoteError("note must end with a signature line");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGNATURES) throw new NoteError("note has too many signatures");
  const signatures = [];
  for (const line of lines) {
    if (!line.startsWith(SIG_PREFIX)) throw new NoteError("signature line must start with —");
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(" ");
    if (space <= 0 || space === rest.length - 1) throw new NoteError("signature line is empty");
    const name = rest.slice(0, space);
    checkName(name);
    const raw = await b64(rest.slice(space + 1), "signature");
    if (raw.length <= 4) throw new NoteError("signature is too short");
    signatures.push({ name, keyId: raw.slice(0, 4), signature: raw.slice(4) });
  }
  return { text, signatures };
}

/** Parse checkpoint note text (origin, size, root, extensions) strictly. */
export async function parseCheckpoint(text) {
  if (!text.endsWith("\n")) throw new NoteError("checkpoint text must end with a newline");
  const [origin, sizeLine, rootLine, ...extensions] = text.slice(0, -1).split("\n");
  if (rootLine === undefined) throw new NoteError("checkpoint needs origin, size and root");
  if (!origin || extensions.some((line) => !line)) throw new NoteError("empty checkpoint line");
  if (!SIZE_RE.test(sizeLine) || BigInt(sizeLine) > MAX_TREE_SIZE) {
    throw new NoteError("checkpoint size is not a canonical decimal");
  }
  const size = BigInt(sizeLine);
  if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new NoteError("checkpoint size is too large");
  if (rootLine.length !== 44) throw new NoteError("checkpoint root must be 32 bytes in base64");
  const root = await b64(rootLine, "checkpoint root");
  return { origin, size: Number(size), root, extensions };
}

/**
 * Open a signed note with one trusted key (from parseVkey), as ledger/note.py does:
 * the key's signature line must be there and verify; lines by other keys are
 * ignored. Returns the note text.
 */
export async function openNote(note, verifier) {
  const parsed = await parseNote(note);
  const message = utf8(parsed.text);
  let verified = false;
  for (const sig of parsed.signatures) {
    if (sig.name !== verifier.name || !equal(sig.keyId, verifier.keyId)) continue;
    if (!(await ed25519Verify(verifier.publicKey, sig.signature, message))) {
      throw new NoteError(`signature by ${verifier.name} does not verify`);
    }
    verified = true;
  }
  if (!verified) throw new NoteError("note has no signature by the trusted key");
  return parsed.text;
}

/** Open a signed checkpoint with the log key; its origin must be the key's name. */
export async function openCheckpoint(note, verifier) {
  const cp = await parseCheckpoint(await openNote(note, verifier));
  if (cp.origin !== verifier.name) throw new NoteError("checkpoint origin is not the key name");
  return cp;
}
