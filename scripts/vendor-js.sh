#!/usr/bin/env bash
# Vendor the browser's fallback crypto (pinned versions, from npm) into api/static/vendor/.
#
# The resident pages verify Ed25519 with WebCrypto where the browser has it and fall
# back to @noble/ed25519 elsewhere; @noble/hashes supplies SHA-512 (and SHA-256 outside
# secure contexts, where crypto.subtle is missing). The built ESM files and licences are
# committed, so neither the app nor CI needs npm; run this only to change a version,
# then review the diff (and MANIFEST.sha256) like any other code.
set -euo pipefail
ED25519=3.2.0
HASHES=2.4.0
HASH_FILES=(sha2.js _md.js _u64.js utils.js)

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/api/static/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd "$work"
npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund --save-exact \
  "@noble/ed25519@$ED25519" "@noble/hashes@$HASHES" >/dev/null

rm -rf "$out/noble-ed25519" "$out/noble-hashes"
mkdir -p "$out/noble-ed25519" "$out/noble-hashes"
cp node_modules/@noble/ed25519/index.js node_modules/@noble/ed25519/LICENSE "$out/noble-ed25519/"
for f in "${HASH_FILES[@]}"; do cp "node_modules/@noble/hashes/$f" "$out/noble-hashes/"; done
cp node_modules/@noble/hashes/LICENSE "$out/noble-hashes/"
cat > "$out/VERSIONS" <<V
@noble/ed25519 $ED25519 (MIT) -> noble-ed25519/
@noble/hashes $HASHES (MIT) -> noble-hashes/ (${HASH_FILES[*]})
installed from the npm registry by scripts/vendor-js.sh; not modified
V
cd "$out"
find . -type f ! -name MANIFEST.sha256 | LC_ALL=C sort | xargs sha256sum > MANIFEST.sha256
echo "vendored into $out:"
cat VERSIONS
