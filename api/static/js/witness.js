// This device as a witness: remember the last checkpoint verified here, per log origin,
// so that the next visit can demand a consistency proof from it. A rewritten or
// rolled-back log then fails on every phone that saw the old one.

import { b64decode, b64encode } from "./bytes.js";

const PREFIX = "trustledger:checkpoint:";

export function recall(origin) {
  try {
    const saved = JSON.parse(localStorage.getItem(PREFIX + origin) || "null");
    if (!saved || !Number.isSafeInteger(saved.size) || saved.size < 1) return null;
    return { size: saved.size, root: b64decode(saved.root) };
  } catch (_) {
    return null;
  }
}

export function remember(checkpoint) {
  try {
    const value = JSON.stringify({ size: checkpoint.size, root: b64encode(checkpoint.root) });
    localStorage.setItem(PREFIX + checkpoint.origin, value);
  } catch (_) {
    // private browsing or storage full: the check still ran, only the memory is lost
  }
}
