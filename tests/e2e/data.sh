#!/usr/bin/env bash
# `pixeldit data pack / info` and training from packed files and JPEG
# folders through the command (issue 17): a fixture of JPEGs and PNGs
# (make_image_folder), Fashion-MNIST IDX, damaged inputs named in one line.
# Usage: data.sh PIXELDIT_BINARY MAKE_IMAGE_FOLDER
set -u
bin="$1"
make_folder="$2"
tmp=$(mktemp -d /tmp/pixeldit-data-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
source "$(dirname "$0")/check.sh" || exit 1

"$make_folder" "$tmp/images" || { echo "FAIL fixture"; exit 1; }
cat >"$tmp/tiny.ini" <<'INI'
[model]
preset = small
image_size = 16
channels = 3
hidden_size = 32
depth = 2
num_heads = 2
bottleneck_dim = 8
in_context_len = 2
in_context_start = 1
num_classes = 3
[train]
batch_size = 8
lr = 1e-3
warmup_steps = 1
threads = 2
ckpt_every = 0
final_grid = false
log_every = 1
[data]
source = folder
INI

check "pack a JPEG/PNG folder" 0 "$bin" data pack "$tmp/images" --image-size 16 --out "$tmp/a.pack"
expect_in_output "pack reports images and rate" "wrote .*a.pack: 36 images of 3x16x16"
check "info --verify" 0 "$bin" data info "$tmp/a.pack" --verify
expect_in_output "info lists classes" "class 1: plants"
expect_in_output "info checks the payload" "36 images of 3x16x16, 3 classes, checksum ok"
check "train on the folder" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_folder" --steps 3 \
  --set data.path="$tmp/images"
check "train on the packed file, prefetching" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_packed" \
  --steps 3 --set data.source=packed --set data.path="$tmp/a.pack" --set data.prefetch=2
expect_in_output "the trainer reports its data wait" "ms per step waiting for batches (prefetch 2)"
expect "folder and packed runs log the same losses" \
  cmp -s <(cut -d, -f1-3 "$tmp/run_folder/log.csv") <(cut -d, -f1-3 "$tmp/run_packed/log.csv")
check "train streaming the folder, prefetching" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_stream" \
  --steps 3 --set data.path="$tmp/images" --set data.stream=true --set data.prefetch=2
expect "folder and streamed runs log the same losses" \
  cmp -s <(cut -d, -f1-3 "$tmp/run_folder/log.csv") <(cut -d, -f1-3 "$tmp/run_stream/log.csv")
check "stream on a packed file refused" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_stream_p" \
  --steps 1 --set data.source=packed --set data.path="$tmp/a.pack" --set data.stream=true
expect_in_output "stream refusal says why" "stream = true needs source = folder"

# a packed file of another size than the model's
check "size mismatch refused" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_bad" --steps 1 \
  --set data.source=packed --set data.path="$tmp/a.pack" --set model.image_size=32
expect_in_output "size mismatch names both" "holds 3x16x16 images but \[model\] wants channels = 3, image_size = 32"

# damaged files: one line naming the file, exit 1; skipped with the key
head -c 300 "$tmp/images/plants/img01.JPG" >"$tmp/images/plants/img01b.jpg"
check "truncated JPEG stops a pack" 1 "$bin" data pack "$tmp/images" --image-size 16 --out "$tmp/b.pack"
expect_in_output "truncated JPEG named" "plants/img01b.jpg: corrupt or truncated JPEG"
expect "no packed file after a failed pack" test ! -e "$tmp/b.pack"
check "truncated JPEG stops training" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_bad2" --steps 1 \
  --set data.path="$tmp/images"
expect_in_output "training names it" "plants/img01b.jpg: corrupt or truncated JPEG"
# streaming opens files only when their batch is prepared: one batch of all 37
check "truncated JPEG stops streamed training" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_bad3" \
  --steps 1 --set data.path="$tmp/images" --set data.stream=true --set data.prefetch=1 \
  --set train.batch_size=37
expect_in_output "streamed training names it" "plants/img01b.jpg: corrupt or truncated JPEG"
check "stream with skip_corrupt refused" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_bad4" --steps 1 \
  --set data.path="$tmp/images" --set data.stream=true --set data.skip_corrupt=true
expect_in_output "refusal names both keys" "skip_corrupt cannot be combined with stream"
check "skip_corrupt trains" 0 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_skip" --steps 1 \
  --set data.path="$tmp/images" --set data.skip_corrupt=true
expect_in_output "skipped file named" "warning: skipped .*img01b.jpg: corrupt or truncated JPEG"
expect_in_output "skipped files counted" "skipped 1 corrupt images, training on 36"
check "pack --skip-corrupt" 0 "$bin" data pack "$tmp/images" --image-size 16 --out "$tmp/b.pack" --skip-corrupt
expect_in_output "pack counts skipped" "1 corrupt images skipped"

printf 'PDPACK\r\n\002\000\000\000' >"$tmp/v2.pack"
head -c 4200 /dev/zero >>"$tmp/v2.pack"
check "newer format refused" 1 "$bin" data info "$tmp/v2.pack"
expect_in_output "version named" "v2.pack: packed format version 2, this build reads 1"
cp "$tmp/a.pack" "$tmp/flip.pack"
printf '\377' | dd of="$tmp/flip.pack" bs=1 seek=5000 conv=notrunc status=none
check "damaged payload refused on verify" 1 "$bin" train "$tmp/tiny.ini" --out "$tmp/run_flip" --steps 1 \
  --set data.source=packed --set data.path="$tmp/flip.pack"
expect_in_output "checksum named" "flip.pack: payload checksum mismatch"

# IDX (Fashion-MNIST test split) packs with the IDX preprocessing
if [[ -r /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]]; then
  check "pack IDX" 0 "$bin" data pack /usr/share/datasets/fashion-mnist --split test --image-size 32 \
    --out "$tmp/fm.pack"
  expect_in_output "IDX pack" "10000 images of 1x32x32"
  check "info IDX pack" 0 "$bin" data info "$tmp/fm.pack"
  expect_in_output "Fashion-MNIST class names kept" "class 0: T-shirt/top"
fi

# usage errors
check "pack without --out" 2 "$bin" data pack "$tmp/images" --image-size 16
check "pack with a bad size" 2 "$bin" data pack "$tmp/images" --image-size 0 --out "$tmp/c.pack"
check "unknown subcommand" 2 "$bin" data unpack
check "data --help" 0 "$bin" data --help
check "data pack --help" 0 "$bin" data pack --help
expect_in_output "pack help from the option table" "--skip-corrupt"
check "pack with --channels 2" 2 "$bin" data pack "$tmp/images" --image-size 16 --channels 2 --out "$tmp/c.pack"
check "pack with a bad --fit" 2 "$bin" data pack "$tmp/images" --image-size 16 --fit crop --out "$tmp/c.pack"
check "info without FILE" 2 "$bin" data info
check "info with an unknown option" 2 "$bin" data info "$tmp/a.pack" --verfy
expect_in_output "did you mean" "did you mean '--verify'"

echo "data.sh: $fails failed"
((fails == 0))
