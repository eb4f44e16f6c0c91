async ([vectors]) => {
  const m = await import("/static/js/merkle.js");
  const hexToBytes = (h) => new Uint8Array(h.match(/../g)?.map((x) => parseInt(x, 16)) ?? []);
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  const leaves = await Promise.all(vectors.leaves_hex.map((h) => m.hashLeaf(hexToBytes(h))));
  const root = (n) => hexToBytes(vectors.roots_hex[String(n)]);
  const fails = async (fn) => { try { await fn(); return false; } catch (e) { return true; } };
  const flips = (proof) => {
    const out = [];
    proof.forEach((h, i) => { for (let bit = 0; bit < 256; bit += 37) {
      const copy = proof.map((x) => x.slice()); copy[i][bit >> 3] ^= 1 << (bit & 7); out.push(copy);
    } });
    return out;
  };
  const problems = [];
  let checked = 0;
  for (const v of vectors.inclusion) {
    const proof = v.hashes_b64.map(b64);
    const ok = (p, idx = v.index, size = v.tree_size, r = root(v.tree_size)) =>
      m.verifyInclusion(leaves[idx] ?? leaves[0], idx, size, p, r);
    try { await ok(proof); } catch (e) { problems.push(`inclusion ${v.index}/${v.tree_size}: ${e}`); }
    const bad = [...flips(proof), proof.slice(0, -1), [...proof, proof[0] ?? leaves[0]]]
      .filter((p) => p.length !== proof.length || p.some((h, i) => h !== proof[i]));
    for (const p of bad) {
      if (p.length === proof.length && p.every((h, i) => h.every((b, j) => b === proof[i][j]))) continue;
      if (!(await fails(() => ok(p)))) problems.push(`inclusion ${v.index}/${v.tree_size} accepted a bad proof`);
      checked++;
    }
    if (vectors.roots_hex[String(v.tree_size + 1)] && !(await fails(() => ok(proof, v.index, v.tree_size + 1, root(v.tree_size + 1))))) problems.push(`inclusion size+1 ${v.index}/${v.tree_size}`);
    if (v.tree_size > 1 && !(await fails(() => ok(proof, (v.index + 1) % v.tree_size)))) problems.push(`inclusion other index ${v.index}/${v.tree_size}`);
    checked += 2;
  }
  for (const v of vectors.consistency) {
    const proof = v.hashes_b64.map(b64);
    const ok = (p, from = v.from, to = v.to) => m.verifyConsistency(from, to, root(v.from), root(v.to), p);
    try { await ok(proof); } catch (e) { problems.push(`consistency ${v.from}->${v.to}: ${e}`); }
    const bad = [...flips(proof), ...(proof.length ? [proof.slice(0, -1), proof.slice(1)] : []), [...proof, leaves[0]]];
    for (const p of bad) {
      if (!(await fails(() => ok(p)))) problems.push(`consistency ${v.from}->${v.to} accepted a bad proof`);
      checked++;
    }
    if (!(await fails(() => m.verifyConsistency(v.from, v.to, root(v.to === v.from ? 0 : v.to), root(v.to), proof)))) problems.push(`consistency wrong old root ${v.from}->${v.to}`);
    if (!(await fails(() => ok(proof, 0, v.to)))) problems.push("consistency from 0");
    checked += 2;
  }
  return { problems, checked, inclusion: vectors.inclusion.length, consistency: vectors.consistency.length };
}
