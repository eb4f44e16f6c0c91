async ([vkey, note, checkpoint]) => {
  const n = await import("/static/js/note.js");
  const c = await import("/static/js/crypto.js");
  const key = await n.parseVkey(vkey);
  const out = {};
  out.text = await n.openNote(note, key);
  out.verifier = c.lastEd25519;
  const tampered = note.replace("problem", "Problem");
  try { await n.openNote(tampered, key); out.tampered = "accepted"; } catch (e) { out.tampered = e.name; }
  if (checkpoint) {
    const cp = await n.openCheckpoint(checkpoint.note, await n.parseVkey(checkpoint.vkey));
    out.cp = { origin: cp.origin, size: cp.size, root: btoa(String.fromCharCode(...cp.root)) };
    const lines = checkpoint.note.split("\n");
    const forged = [lines[0], String(cp.size + 1), ...lines.slice(2)].join("\n");
    try { await n.openCheckpoint(forged, await n.parseVkey(checkpoint.vkey)); out.forged = "accepted"; } catch (e) { out.forged = e.name; }
    try { await n.openCheckpoint(checkpoint.note, key); out.otherKey = "accepted"; } catch (e) { out.otherKey = e.name; }
  }
  return out;
}
