// Command tlogcheck verifies a trustledger estate over its public HTTP API with the Go
// reference implementations of signed notes and transparency logs
// (golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog), which share no code
// with trustledger.
//
// Usage: tlogcheck ESTATE_URL VKEY
//
// It opens the checkpoint with the pinned verifier key, reads every entry, checks each
// leaf's seq and prev (the hash chain), rebuilds the tree with tlog and compares its
// root with the checkpoint's, compares the served inclusion and consistency proofs
// with tlog's own for many (index, size) pairs and checks them with tlog, and reads
// the C2SP tiles: hash tiles through tlog.TileHashReader (which authenticates every
// tile against the checkpoint), entry tiles against the leaves. It prints one line of
// counts and exits 0, or prints what failed and exits 1.
package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var base string

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlogcheck: "+format+"\n", args...)
	os.Exit(1)
}

func get(path string) []byte {
	resp, err := http.Get(base + path)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	if resp.StatusCode != 200 {
		fail("GET %s: %s: %s", path, resp.Status, body)
	}
	return body
}

func getJSON(path string, v interface{}) {
	if err := json.Unmarshal(get(path), v); err != nil {
		fail("GET %s: %v", path, err)
	}
}

func hashes(path string, texts []string) []tlog.Hash {
	out := make([]tlog.Hash, len(texts))
	for i, t := range texts {
		b, err := base64.StdEncoding.DecodeString(t)
		if err != nil || len(b) != tlog.HashSize {
			fail("GET %s: hash %d is not base64 of 32 bytes", path, i)
		}
		copy(out[i][:], b)
	}
	return out
}

// proof fetches a proof whose answer repeats what was asked as k1 = v1 and k2 = v2.
func proof(path, k1 string, v1 int64, k2 string, v2 int64) []tlog.Hash {
	var p map[string]json.RawMessage
	getJSON(path, &p)
	if string(p[k1]) != strconv.FormatInt(v1, 10) || string(p[k2]) != strconv.FormatInt(v2, 10) {
		fail("%s: answers for %s=%s, %s=%s", path, k1, p[k1], k2, p[k2])
	}
	var texts []string
	if err := json.Unmarshal(p["hashes"], &texts); err != nil {
		fail("GET %s: hashes: %v", path, err)
	}
	return hashes(path, texts)
}

func same(a, b []tlog.Hash) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkpoint opens the signed note and reads the C2SP tlog-checkpoint body.
func checkpoint(vkey string) tlog.Tree {
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		fail("verifier key: %v", err)
	}
	msg := get("/checkpoint")
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.SplitN(n.Text, "\n", 4)
	if len(lines) < 4 || lines[0] != verifier.Name() {
		fail("checkpoint: origin is not %q", verifier.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 {
		fail("checkpoint: bad size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		fail("checkpoint: bad root %q", lines[2])
	}
	tree := tlog.Tree{N: size}
	copy(tree.Hash[:], root)
	return tree
}

type entriesPage struct {
	Entries []struct {
		Seq  int64  `json:"seq"`
		Leaf string `json:"leaf"`
	} `json:"entries"`
	Next *int64 `json:"next"`
}

// leaves reads every entry up to size and checks the chain: each leaf's seq, and its
// prev is the leaf hash of the entry before (null for entry 0).
func leaves(size int64) [][]byte {
	var out [][]byte
	for int64(len(out)) < size {
		var page entriesPage
		getJSON(fmt.Sprintf("/entries?start=%d&limit=1000", len(out)), &page)
		if len(page.Entries) == 0 {
			fail("entries: empty page at %d of %d", len(out), size)
		}
		for _, e := range page.Entries {
			i := int64(len(out))
			leaf, err := base64.StdEncoding.DecodeString(e.Leaf)
			if err != nil || e.Seq != i {
				fail("entries: entry %d: bad seq or leaf", i)
			}
			var fields struct {
				Seq  int64   `json:"seq"`
				Prev *string `json:"prev"`
			}
			if err := json.Unmarshal(leaf, &fields); err != nil || fields.Seq != i {
				fail("entries: leaf %d: bad JSON or seq", i)
			}
			if i == 0 {
				if fields.Prev != nil {
					fail("entries: leaf 0 has a prev")
				}
			} else {
				want := tlog.RecordHash(out[i-1])
				if fields.Prev == nil || *fields.Prev != base64.StdEncoding.EncodeToString(want[:]) {
					fail("entries: leaf %d: prev is not the hash of leaf %d", i, i-1)
				}
			}
			out = append(out, leaf)
			if int64(len(out)) == size {
				break
			}
		}
	}
	return out
}

type memory []tlog.Hash

func (m memory) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

// sizes: small trees, the edges of hash tiles (256) and of powers of two, and the end.
func sizes(n int64) []int64 {
	set := map[int64]bool{}
	for _, s := range []int64{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 255, 256, 257, 511, 512, 513, n / 3, n / 2, n - 2, n - 1, n} {
		if s >= 1 && s <= n {
			set[s] = true
		}
	}
	var out []int64
	for s := range set {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func indexes(t int64) []int64 {
	set := map[int64]bool{0: true, 1: true, t / 2: true, t - 2: true, t - 1: true}
	for i := int64(3); i < t; i = i*2 + 1 { // spread over the tree: 3, 7, 15, …
		set[i] = true
	}
	var out []int64
	for i := range set {
		if i >= 0 && i < t {
			out = append(out, i)
		}
	}
	return out
}

type tiles struct{}

func (tiles) Height() int { return 8 }

// ReadTiles fetches C2SP tlog-tiles paths: tlog's "tile/8/L/N" without the height.
func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = get("/tile/" + strings.TrimPrefix(t.Path(), "tile/8/"))
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

// entryTiles reads tile/entries/N for every (full or partial) tile of the tree and
// compares its uint16-length-prefixed leaves with those of the entries pages.
func entryTiles(size int64, leaves [][]byte) int {
	count := 0
	for n := int64(0); n*256 < size; n++ {
		w := size - n*256
		if w > 256 {
			w = 256
		}
		t := tlog.Tile{H: 8, L: 0, N: n, W: int(w)}
		data := get("/tile/entries/" + strings.TrimPrefix(t.Path(), "tile/8/0/"))
		for i := int64(0); i < w; i++ {
			if len(data) < 2 {
				fail("entry tile %d: ends before leaf %d", n, i)
			}
			l := int(binary.BigEndian.Uint16(data))
			if len(data) < 2+l || string(data[2:2+l]) != string(leaves[n*256+i]) {
				fail("entry tile %d: leaf %d differs from entry %d", n, i, n*256+i)
			}
			data = data[2+l:]
		}
		if len(data) != 0 {
			fail("entry tile %d: bytes after its %d leaves", n, w)
		}
		count++
	}
	return count
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: tlogcheck ESTATE_URL VKEY")
	}
	base = strings.TrimSuffix(os.Args[1], "/")
	tree := checkpoint(os.Args[2])
	all := leaves(tree.N)

	var stored memory
	for i, leaf := range all {
		hs, err := tlog.StoredHashes(int64(i), leaf, stored)
		if err != nil {
			fail("stored hashes %d: %v", i, err)
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(tree.N, stored)
	if err != nil || root != tree.Hash {
		fail("the leaves do not give the checkpoint's root (%v)", err)
	}

	inclusion, consistency := 0, 0
	ss := sizes(tree.N)
	roots := map[int64]tlog.Hash{} // the tree hash at each size checked, computed once
	for _, t := range ss {
		if roots[t], err = tlog.TreeHash(t, stored); err != nil {
			fail("tree hash at %d: %v", t, err)
		}
	}
	for _, t := range ss {
		th := roots[t]
		for _, i := range indexes(t) {
			path := fmt.Sprintf("/proofs/inclusion?seq=%d&tree_size=%d", i, t)
			served := proof(path, "seq", i, "tree_size", t)
			want, err := tlog.ProveRecord(t, i, stored)
			if err != nil || !same(served, want) {
				fail("%s: not tlog's proof (%v)", path, err)
			}
			if err := tlog.CheckRecord(served, t, th, i, tlog.RecordHash(all[i])); err != nil {
				fail("%s: %v", path, err)
			}
			inclusion++
		}
		for _, m := range ss {
			if m > t {
				break
			}
			path := fmt.Sprintf("/proofs/consistency?from=%d&to=%d", m, t)
			served := proof(path, "from", m, "to", t)
			mh := roots[m]
			want, err := tlog.ProveTree(t, m, stored)
			if err != nil || !same(served, want) {
				fail("%s: not tlog's proof (%v)", path, err)
			}
			if err := tlog.CheckTree(served, t, th, m, mh); err != nil {
				fail("%s: %v", path, err)
			}
			consistency++
		}
	}

	// Hash tiles: every hash read through them is authenticated against the checkpoint.
	fromTiles := tlog.TileHashReader(tree, tiles{})
	tiled := 0
	for _, i := range indexes(tree.N) {
		p, err := tlog.ProveRecord(tree.N, i, fromTiles)
		if err != nil {
			fail("proof of %d from tiles: %v", i, err)
		}
		if err := tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(all[i])); err != nil {
			fail("proof of %d from tiles: %v", i, err)
		}
		tiled++
	}
	tileCount := entryTiles(tree.N, all)

	fmt.Printf("ok size=%d inclusion=%d consistency=%d tile_proofs=%d entry_tiles=%d\n",
		tree.N, inclusion, consistency, tiled, tileCount)
}
