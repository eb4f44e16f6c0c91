// The estate's log as the browser checks it: fetch from the public API, verify, report.
//
// Nothing the server says is taken without a proof: the checkpoint must carry a valid
// signature by the log key, proofs must verify against the verified root. The log key
// itself comes from the same server (/log-key): pages say so, since an outside
// verifier would pin it out of band.

import { b64decode } from "./bytes.js";
import { lastEd25519 } from "./crypto.js";
import { hashLeaf, verifyConsistency, verifyInclusion } from "./merkle.js";
import { NoteError, decodeNote, openCheckpoint, parseVkey } from "./note.js";

export class FetchError extends Error {
  constructor(url, status) {
    super(`${url}: HTTP ${status}`);
    this.name = "FetchError";
    this.code = "fetch";
    this.status = status;
  }
}

export function apiBase(estate) {
  return `/v1/estates/${encodeURIComponent(estate)}`;
}

async function get(url) {
  const res = await fetch(url, { cache: "no-store", credentials: "omit" });
  if (!res.ok) throw new FetchError(url, res.status);
  return res;
}

export async function getJSON(url) {
  return (await get(url)).json();
}

function hashes(list) {
  if (!Array.isArray(list)) throw new NoteError("proof has no hash list");
  return list.map((h) => b64decode(h, "proof hash"));
}

/**
 * The log key /log-key publishes now. When /log-keys lists several keys (rotations),
 * the current key must be the last one: checkpoints must verify under it.
 */
export async function publishedKey(estate) {
  const base = apiBase(estate);
  const published = await getJSON(`${base}/log-key`);
  const key = await parseVkey(String(published.vkey));
  if (key.name !== published.origin) throw new NoteError("log key name is not the origin");
  const history = await getJSON(`${base}/log-keys`);
  const keys = Array.isArray(history.keys) ? history.keys : [];
  if (keys.length && keys[keys.length - 1].vkey !== key.vkey) {
    throw new NoteError("the current log key is not the last in the key history");
  }
  return { key, keyCount: Math.max(keys.length, 1) };
}

/** The latest checkpoint, verified under the published key. */
export async function latestCheckpoint(estate) {
  const { key, keyCount } = await publishedKey(estate);
  const res = await get(`${apiBase(estate)}/checkpoint`);
  const note = decodeNote(new Uint8Array(await res.arrayBuffer()));
  const checkpoint = await openCheckpoint(note, key);
  return { key, keyCount, checkpoint, ed25519: lastEd25519 };
}

/** Verify that the tree (oldSize, oldRoot) is a prefix of the verified checkpoint. */
export async function checkConsistency(estate, oldSize, oldRoot, checkpoint) {
  if (oldSize === checkpoint.size) {
    await verifyConsistency(oldSize, checkpoint.size, oldRoot, checkpoint.root, []);
    return 0;
  }
  const url = `${apiBase(estate)}/proofs/consistency?from=${oldSize}&to=${checkpoint.size}`;
  const proof = await getJSON(url);
  if (proof.from !== oldSize || proof.to !== checkpoint.size) {
    throw new NoteError("the server answered a proof for other sizes");
  }
  const path = hashes(proof.hashes);
  await verifyConsistency(oldSize, checkpoint.size, oldRoot, checkpoint.root, path);
  return path.length;
}

/** Verify that `leaf` (bytes) is entry `seq` of the verified checkpoint's tree. */
export async function checkInclusion(seq, leaf, proofHashes, checkpoint) {
  const leafHash = await hashLeaf(leaf);
  const path = hashes(proofHashes);
  await verifyInclusion(leafHash, seq, checkpoint.size, path, checkpoint.root);
  return { leafHash, proofLength: path.length };
}

export async function fetchInclusion(estate, seq, checkpoint) {
  const url = `${apiBase(estate)}/proofs/inclusion?seq=${seq}&tree_size=${checkpoint.size}`;
  const proof = await getJSON(url);
  if (proof.seq !== seq || proof.tree_size !== checkpoint.size) {
    throw new NoteError("the server answered a proof for another entry or size");
  }
  return proof.hashes;
}
