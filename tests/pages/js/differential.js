async ([cases]) => {
  const m = await import("/static/js/merkle.js");
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const out = [];
  for (const c of cases) {
    try {
      if (c.kind === "inclusion") {
        await m.verifyInclusion(b64(c.leaf), c.index, c.size, c.proof.map(b64), b64(c.root));
      } else {
        await m.verifyConsistency(c.old, c.size, b64(c.old_root), b64(c.root), c.proof.map(b64));
      }
      out.push(true);
    } catch (e) {
      out.push(false);
    }
  }
  return out;
}
