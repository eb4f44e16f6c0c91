async () => {
  const b = await import("/static/js/bytes.js");
  const n = await import("/static/js/note.js");
  const refuses = async (fn) => { try { await fn(); return false; } catch (e) { return true; } };
  const root = new Uint8Array(32).fill(7);
  const url = b.b64encode(root).replaceAll("+", "-").replaceAll("/", "_");
  return {
    urlPadded: b.hex(b.b64urlDecode(url)) === b.hex(root),
    urlBare: b.hex(b.b64urlDecode(url.replace(/=+$/, ""))) === b.hex(root),
    urlBad: await refuses(() => b.b64urlDecode("AAA*")),
    nonCanonical: await refuses(() => b.b64decode("AB==")),
    sizeLeadingZero: await refuses(() => n.parseCheckpoint("o\n01\n" + b.b64encode(root) + "\n")),
    shortRoot: await refuses(() => n.parseCheckpoint("o\n1\nAAAA\n")),
    noBlankLine: await refuses(() => n.parseNote("a\n— k AAAAAAA=\n")),
    badKeyId: await refuses(() => n.parseVkey("k+00000000+AQ" + "A".repeat(42) + "=")),
    base32: b.hex(b.b32decode("mfrggzdfmztwq2lknnwg23tpoa")),
    base32Bits: await refuses(() => b.b32decode("mfrggzdfmztwq2lknnwg23tpob")),
  };
}
