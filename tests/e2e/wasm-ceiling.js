// The ceiling of the page's CPU fallback on this machine (issue 24), measured in headless Chromium:
// the peak rate of simd128 multiplies and adds, and the `gemm` crate (which burn's CPU backend calls)
// on every matrix product of one training step of the reference model (2 layers, width 64, 4 heads,
// FF 256, batch 64, 36 tokens), built twice: the crates.io release and the copy in vendor/gemm-f32.
// From the rates it prints the milliseconds a step spends in its products on each build, and the
// steps/s the page could reach if nothing but those products took time.
// Usage (scripts/wasm-ceiling builds the two files): node tests/e2e/wasm-ceiling.js RELEASE.wasm PATCHED.wasm
'use strict';
const fs = require('node:fs');
const h = require('./harness');

const [releaseWasm, patchedWasm] = process.argv.slice(2);
if (!releaseWasm || !patchedWasm) {
  console.error('usage: node tests/e2e/wasm-ceiling.js RELEASE.wasm PATCHED.wasm');
  process.exit(2);
}

// One training step's matrix products: [m, n, k, lhs transposed, rhs transposed, count, what].
const ROWS = 64 * 36; // batch x tokens
const VOCAB = 14; // the reference task's token ids (8 letters and the format's symbols)
const LAYERS = 2;
const HEADS_X_BATCH = 4 * 64;
const linears = [[64, 192, 'qkv'], [64, 64, 'proj'], [64, 256, 'fc'], [256, 64, 'fc_out']];
const SHAPES = [];
for (const [din, dout, what] of linears) {
  SHAPES.push([ROWS, dout, din, 0, 0, LAYERS, `${what} forward`]);
  SHAPES.push([ROWS, din, dout, 0, 1, LAYERS, `${what} input grad`]);
  SHAPES.push([din, dout, ROWS, 1, 0, LAYERS, `${what} weight grad`]);
}
SHAPES.push([ROWS, VOCAB, 64, 0, 0, 1, 'head forward']);
SHAPES.push([ROWS, 64, VOCAB, 0, 1, 1, 'head input grad']);
SHAPES.push([64, VOCAB, ROWS, 1, 0, 1, 'head weight grad']);
// Attention, per batch element and head: scores Q·Kᵀ [36, 36, 16] (forward, and the grad of the
// attention weights), and [36, 16, 36] products (weights·V forward; grads of Q, K and V).
SHAPES.push([36, 36, 16, 0, 1, 2 * LAYERS * HEADS_X_BATCH, 'attention scores']);
SHAPES.push([36, 16, 36, 0, 0, 4 * LAYERS * HEADS_X_BATCH, 'attention values']);

(async () => {
  const browser = await h.launch({ webgpu: false });
  try {
    const page = await browser.context.newPage();
    const measure = (file, withPeak) => page.evaluate(async ([bytes, shapes, withPeak]) => {
      const { instance } = await WebAssembly.instantiate(new Uint8Array(bytes), {});
      const { gemm_reps: gemm, peak } = instance.exports;
      const best = (f, flop) => {
        let rate = 0;
        for (let r = 0; r < 5; r++) {
          const t = performance.now();
          f();
          rate = Math.max(rate, flop / ((performance.now() - t) / 1000) / 1e9);
        }
        return rate;
      };
      const out = { shapes: [] };
      if (withPeak) {
        peak(1e6);
        out.peak = best(() => peak(2e7), 2e7 * 96);
      }
      out.sums = [];
      for (const [m, n, k, lt, rt] of shapes) {
        out.sums.push(gemm(m, n, k, lt, rt, 1));
        const flop = 2 * m * n * k;
        const reps = Math.max(2, Math.round(6e8 / flop));
        gemm(m, n, k, lt, rt, Math.max(1, reps >> 3));
        out.shapes.push(best(() => gemm(m, n, k, lt, rt, reps), reps * flop));
      }
      return out;
    }, [[...fs.readFileSync(file)], SHAPES, withPeak]);
    const release = await measure(releaseWasm, true);
    const patched = await measure(patchedWasm, false);
    // The vendored tile must compute what the release computes (its edge tiles included: 36 rows
    // and 14 columns are not multiples of 8): the sums of each product agree to float rounding.
    const wrong = SHAPES.filter((_, i) => {
      const [a, b] = [release.sums[i], patched.sums[i]];
      return !(Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(a)));
    });
    if (wrong.length) {
      throw new Error(`the vendored gemm computes other products than the release: ${wrong.map((s) => s[6]).join(', ')}`);
    }

    console.log(`simd128 peak, 12 independent multiply-add chains: ${release.peak.toFixed(1)} GFLOP/s`);
    console.log('');
    console.log('product (m x n x k, count a step)            release  vendored  GFLOP/s, best of 5');
    let flop = 0;
    let msRelease = 0;
    let msPatched = 0;
    SHAPES.forEach(([m, n, k, , , count, what], i) => {
      const f = 2 * m * n * k * count;
      flop += f;
      msRelease += (f / 1e9 / release.shapes[i]) * 1000;
      msPatched += (f / 1e9 / patched.shapes[i]) * 1000;
      const label = `${what} ${m}x${n}x${k}, ${count}`.padEnd(44);
      console.log(`${label}${release.shapes[i].toFixed(1).padStart(8)}${patched.shapes[i].toFixed(1).padStart(10)}`);
    });
    const atPeak = (flop / 1e9 / release.peak) * 1000;
    console.log('');
    console.log(`a step's products: ${(flop / 1e9).toFixed(3)} GFLOP`);
    console.log(`  at the simd128 peak:  ${atPeak.toFixed(1)} ms, so at most ${(1000 / atPeak).toFixed(1)} steps/s if nothing else took time`);
    console.log(`  release gemm:         ${msRelease.toFixed(1)} ms (${(flop / 1e6 / msRelease).toFixed(1)} GFLOP/s), at most ${(1000 / msRelease).toFixed(1)} steps/s`);
    console.log(`  vendored gemm:        ${msPatched.toFixed(1)} ms (${(flop / 1e6 / msPatched).toFixed(1)} GFLOP/s), at most ${(1000 / msPatched).toFixed(1)} steps/s`);
    console.log(`vendored/release gemm speedup: ${(msRelease / msPatched).toFixed(2)}x`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
