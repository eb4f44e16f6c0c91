// RFC 9162 Merkle tree verification (§2.1.3.2 inclusion, §2.1.4.2 consistency).
//
// A line-by-line port of ledger/merkle.py's verify functions; sizes and indexes are
// handled as BigInt so that trees beyond 2^31 leaves need no special case. Pure
// apart from SHA-256: no I/O. Every failure throws a ProofError.

import { concat, equal } from "./bytes.js";
import { sha256 } from "./crypto.js";

export const HASH_SIZE = 32;
const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

export class ProofError extends Error {
  constructor(message, code = "proof") {
    super(message);
    this.name = "ProofError";
    this.code = code;
  }
}

export function hashLeaf(data) {
  return sha256(concat(LEAF, data));
}

export function hashChildren(left, right) {
  return sha256(concat(NODE, left, right));
}

function big(n, what) {
  if (typeof n === "bigint") return n;
  if (!Number.isSafeInteger(n)) throw new ProofError(`${what} is not an integer`);
  return BigInt(n);
}

function checkHashes(hashes) {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new ProofError(`a hash must be ${HASH_SIZE} bytes`);
    }
  }
}

/** RFC 9162 §2.1.3.2 steps 1-4: the root an inclusion proof leads to. */
export async function rootFromInclusion(leafHash, index, size, proof) {
  const idx = big(index, "index");
  const n = big(size, "size");
  if (!(idx >= 0n && idx < n)) throw new ProofError(`leaf ${idx} is not in a tree of size ${n}`);
  checkHashes([leafHash, ...proof]);
  let fn = idx;
  let sn = n - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) throw new ProofError("inclusion proof is too long");
    if (fn & 1n || fn === sn) {
      r = await hashChildren(p, r);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("inclusion proof is too short");
  return r;
}

/** RFC 9162 §2.1.3.2: `leafHash` is leaf `index` of the tree of `size` leaves with `root`. */
export async function verifyInclusion(leafHash, index, size, proof, root) {
  checkHashes([root]);
  const calculated = await rootFromInclusion(leafHash, index, size, proof);
  if (!equal(calculated, root)) throw new ProofError("root mismatch", "root-mismatch");
}

function checkSizes(oldSize, newSize) {
  if (!(oldSize > 0n && oldSize <= newSize)) {
    throw new ProofError(`no consistency proof from size ${oldSize} to size ${newSize}`);
  }
}

/** RFC 9162 §2.1.4.2: the tree `oldRoot` of `oldSize` leaves is a prefix of `newRoot`. */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  const m = big(oldSize, "old size");
  const n = big(newSize, "new size");
  checkSizes(m, n);
  checkHashes([oldRoot, newRoot, ...proof]);
  if (m === n) {
    if (proof.length) throw new ProofError("consistency proof between equal sizes must be empty");
    if (!equal(oldRoot, newRoot)) throw new ProofError("root mismatch", "root-mismatch");
    return;
  }
  if (!proof.length) throw new ProofError("consistency proof is empty"); // step 1
  const path = (m & (m - 1n)) === 0n ? [oldRoot, ...proof] : [...proof]; // step 2
  let fn = m - 1n; // step 3
  let sn = n - 1n;
  while (fn & 1n) {
    // step 4
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0]; // step 5
  let sr = path[0];
  for (const c of path.slice(1)) {
    // step 6
    if (sn === 0n) throw new ProofError("consistency proof is too long");
    if (fn & 1n || fn === sn) {
      fr = await hashChildren(c, fr);
      sr = await hashChildren(c, sr);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = await hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("consistency proof is too short"); // step 7
  if (!equal(fr, oldRoot)) throw new ProofError("old root mismatch", "root-mismatch");
  if (!equal(sr, newRoot)) throw new ProofError("new root mismatch", "root-mismatch");
}
