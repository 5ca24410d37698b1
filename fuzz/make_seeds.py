#!/usr/bin/env python3
"""Writes the small seed corpus in fuzz/corpus/ (committed; rerun to
regenerate). Plain Python 3, no packages."""
import gzip, json, os, struct, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# safetensors: a tiny checkpoint-like file, dtypes, empty tensor, metadata
def st(tensors, meta=None):
    hdr, blobs, off = {}, b"", 0
    for name, dtype, shape, raw in tensors:
        hdr[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    if meta is not None:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blobs

f32 = lambda *v: struct.pack("<%df" % len(v), *v)
put("safetensors", "checkpoint", st(
    [("a.weight", "F32", [2, 2], f32(1, 2, 3, 4)), ("a.bias", "F32", [2], f32(0, 1)),
     ("ema1.a.bias", "F32", [2], f32(0, 1))],
    {"format": "pixeldit-checkpoint-1", "config": "[model]\ndepth = 2\n", "step": "3",
     "rng": "0000000000000001,0000000000000002,0000000000000003,0000000000000004"}))
put("safetensors", "dtypes", st(
    [("d", "F64", [1], struct.pack("<d", 1.5)), ("h", "BF16", [2], b"\x80\x3f\x00\x40"),
     ("e", "F32", [0], b""), ("i", "I64", [1], struct.pack("<q", -3)), ("u", "U8", [3], b"abc")]))
put("safetensors", "escapes", st([("\u00e9\\n\"q", "F32", [1, 1, 1], f32(2))], {"k\u00e9": "v\\u0001"}))
put("safetensors", "empty", st([], {}))

# config: the shipped configs and a few odd lines
cfgdir = os.path.join(os.path.dirname(root), "..", "configs")
for n in sorted(os.listdir(cfgdir)):
    if n.endswith(".ini"):
        put("config", n, open(os.path.join(cfgdir, n), "rb").read())
put("config", "odd.ini", b"; comment\n[model]\npreset = small\ndepth: 3\n  hidden_size = 64 ; inline\n"
    b"[loss]\nplugin = mse, freq_loss\nmse.weight = 0.5\n[decoder]\nplugin =;x\n")

# PNG: gray, gray 1-bit, RGB, RGBA, 16-bit, palette, palette + tRNS, interlaced
def png(w, h, color, depth, rows, plte=None, trns=None, interlace=0):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace))
    if plte: out += chunk(b"PLTE", plte)
    if trns: out += chunk(b"tRNS", trns)
    raw = b"".join(b"\x00" + r for r in rows)
    return out + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")

put("png_folder", "gray", png(3, 2, 0, 8, [b"\x00\x80\xff", b"\x10\x20\x30"]))
put("png_folder", "gray1", png(9, 1, 0, 1, [b"\xaa\x80"]))
put("png_folder", "rgb", png(2, 2, 2, 8, [b"\xff\x00\x00\x00\xff\x00", b"\x00\x00\xff\xff\xff\xff"]))
put("png_folder", "rgba", png(1, 2, 6, 8, [b"\x01\x02\x03\x04", b"\x05\x06\x07\x08"]))
put("png_folder", "rgb16", png(1, 1, 2, 16, [b"\x01\x02\x03\x04\x05\x06"]))
put("png_folder", "palette", png(2, 1, 3, 8, [b"\x00\x01"], plte=b"\xff\x00\x00\x00\x00\xff"))
put("png_folder", "palette_trns", png(2, 1, 3, 8, [b"\x00\x01"], plte=b"\xff\x00\x00\x00\x00\xff", trns=b"\x00\xff"))
put("png_folder", "interlaced", png(2, 2, 0, 8, [b"\x00\x40", b"\x80\xc0"], interlace=1))

# IDX: first byte is the split point between the images and labels files
def idx(split, images, labels):
    return bytes([split]) + images + labels
img = struct.pack(">IIII", 0x803, 2, 3, 3) + bytes(range(18))
lab = struct.pack(">II", 0x801, 2) + b"\x01\x09"
put("idx", "plain", idx(int(255 * len(img) / (len(img) + len(lab))) + 1, img, lab))
gi, gl = gzip.compress(img, mtime=0), gzip.compress(lab, mtime=0)
put("idx", "gzip", idx(int(255 * len(gi) / (len(gi) + len(gl))) + 1, gi, gl))
