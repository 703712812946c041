// Runs the exported MNIST CNN in onnxruntime-web and shows its logits next to neurarust's.
//
// Inputs (written by export_demo.py): <model>/model.onnx and <model>/digits.json, where <model>
// is "model/" unless the page's URL says ?model=DIR/. With ?report=PATH the page also POSTs
// the text of #result to PATH when it is done (or failed): the browser test reads it there,
// so it waits for exactly the moment the page has finished, with no fixed sleep.

const ORT_DIST = new URL("./node_modules/onnxruntime-web/dist/", import.meta.url);

const params = new URLSearchParams(location.search);
const modelDir = new URL(params.get("model") ?? "model/", location.href);
const reportTo = params.get("report");

const statusLine = document.getElementById("status");
const resultBox = document.getElementById("result");

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`GET ${url}: HTTP ${response.status} (run export_demo.py first?)`);
  }
  return response;
}

function argmax(row) {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

// One digit as a 28x28 grey image; pixels are stored normalised ((p - mean) / std).
function digitCanvas(pixels, mean, std) {
  const canvas = document.createElement("canvas");
  canvas.width = 28;
  canvas.height = 28;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(255 * Math.min(1, Math.max(0, pixels[i] * std + mean)));
    image.data.set([255 - v, 255 - v, 255 - v, 255], 4 * i);
  }
  ctx.putImageData(image, 0, 0);
  return canvas;
}

function cell(row, content, className) {
  const td = row.insertCell();
  if (content instanceof Node) td.append(content); else td.textContent = content;
  if (className) td.className = className;
  return td;
}

function show(digits, logits) {
  const [n, , h, w] = digits.shape;
  const body = document.querySelector("#digits tbody");
  let maxDiff = 0;
  let correct = 0;
  for (let b = 0; b < n; b++) {
    const row = body.insertRow();
    const pixels = digits.images.slice(b * h * w, (b + 1) * h * w);
    const mine = argmax(logits[b]);
    const theirs = argmax(digits.neurarust_logits[b]);
    for (let k = 0; k < logits[b].length; k++) {
      maxDiff = Math.max(maxDiff, Math.abs(logits[b][k] - digits.neurarust_logits[b][k]));
    }
    if (mine === digits.labels[b]) correct++;
    cell(row, digitCanvas(pixels, digits.mean, digits.std));
    cell(row, String(digits.labels[b]));
    cell(row, String(mine), mine === digits.labels[b] ? "ok" : "wrong");
    cell(row, String(theirs));
    cell(row, logits[b].map((v) => v.toFixed(3)).join(" "), "logits");
  }
  document.getElementById("digits").hidden = false;
  document.getElementById("summary").textContent =
    `${correct} of ${n} digits classified correctly (weights: ${digits.weights}); largest ` +
    `|browser − neurarust| logit difference: ${maxDiff.toExponential(2)}.`;
  return maxDiff;
}

async function run() {
  const ort = await import(new URL("ort.wasm.min.mjs", ORT_DIST).href);
  ort.env.wasm.wasmPaths = ORT_DIST.href;
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
  ort.env.wasm.numThreads = 1;
  const [modelBytes, digits] = await Promise.all([
    fetchOk(new URL("model.onnx", modelDir)).then((r) => r.arrayBuffer()),
    fetchOk(new URL("digits.json", modelDir)).then((r) => r.json()),
  ]);
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"] });
  const input = new ort.Tensor("float32", Float32Array.from(digits.images), digits.shape);
  const started = performance.now();
  const outputs = await session.run({ [session.inputNames[0]]: input });
  const runMs = performance.now() - started;
  const y = outputs[session.outputNames[0]];
  const [n, classes] = y.dims;
  const flat = Array.from(y.data);
  const logits = Array.from({ length: n }, (_, b) => flat.slice(b * classes, (b + 1) * classes));
  // The export keeps the batch dim symbolic (B): the same session also runs one digit alone.
  const [, c, h, w] = digits.shape;
  const one = new ort.Tensor("float32", input.data.slice(0, c * h * w), [1, c, h, w]);
  const alone = Array.from((await session.run({ [session.inputNames[0]]: one }))[
    session.outputNames[0]].data);
  const maxDiff = show(digits, logits);
  statusLine.textContent = `done: ${n} digits in ${runMs.toFixed(1)} ms (onnxruntime-web ` +
    `${ort.env.versions?.web ?? "?"}, wasm backend)`;
  return {
    status: "done",
    onnxruntime_web: ort.env.versions?.web ?? null,
    backend: "wasm",
    input_name: session.inputNames[0],
    output_name: session.outputNames[0],
    output_shape: y.dims,
    output_type: y.type,
    logits,
    first_digit_alone: alone,
    predictions: logits.map(argmax),
    labels: digits.labels,
    max_abs_diff_vs_neurarust: maxDiff,
    run_ms: runMs,
  };
}

async function main() {
  let result;
  try {
    result = await run();
  } catch (err) {
    statusLine.textContent = `error: ${err}`;
    statusLine.className = "error";
    result = { status: "error", error: String(err), stack: err?.stack ?? null };
  }
  resultBox.textContent = JSON.stringify(result, null, 1);
  document.body.dataset.status = result.status;
  if (reportTo) {
    await fetch(reportTo, { method: "POST", body: resultBox.textContent,
                            headers: { "Content-Type": "application/json" } });
  }
}

main();
