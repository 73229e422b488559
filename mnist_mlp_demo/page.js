// The demo page: draw a digit (mouse, finger or pen) or upload an image, send it to the server
// (POST predict), and show what the network made of it. All the work is done by the server;
// this file only draws and displays.
"use strict";

const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const INK_WIDTH = 20;  // pixels of the 280-pixel pad: MNIST strokes are 2 to 3 of 28
const HIDDEN_RANGES = { sigmoid: [0, 1, "in (0, 1)"], tanh: [-1, 1, "in (−1, 1)"],
                       relu: [0, null, "≥ 0, scaled to the largest"] };
let maxUpload = 8 * 1024 * 1024;  // replaced by the server's limit (GET info)
let lastPoint = null;  // where the stroke being drawn is, null between strokes
let latest = 0;  // number of the latest request: older answers arriving later are ignored

function byId(id) { return document.getElementById(id); }

function clearPad() {
  ink.fillStyle = "white";
  ink.fillRect(0, 0, pad.width, pad.height);
}

function showMessage(text) { byId("message").textContent = text; }

function clearResult() {
  byId("digit").textContent = "";
  byId("bars").replaceChildren();
  const input = byId("input").getContext("2d");
  input.fillStyle = "black";
  input.fillRect(0, 0, 28, 28);
  const hidden = byId("hidden");
  hidden.getContext("2d").clearRect(0, 0, hidden.width, hidden.height);
}

// --- Drawing ---------------------------------------------------------------------------------

function padPoint(event) {  // the pointer in the pad's own pixels, whatever its size on screen
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function strokeTo(point) {
  ink.strokeStyle = "black";
  ink.lineWidth = INK_WIDTH;
  ink.lineCap = "round";
  ink.lineJoin = "round";
  ink.beginPath();
  ink.moveTo(...lastPoint);
  ink.lineTo(...point);
  ink.stroke();
  lastPoint = point;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  lastPoint = padPoint(event);
  strokeTo(lastPoint);  // a dot, for a tap
});
pad.addEventListener("pointermove", (event) => {
  if (lastPoint !== null) strokeTo(padPoint(event));
});
function endStroke() {
  if (lastPoint === null) return;
  lastPoint = null;
  readPad();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function readPad() {
  pad.toBlob((png) => send(png, "drawing"), "image/png");
}

// --- Uploading -------------------------------------------------------------------------------

function megabytes(bytes) { return (bytes / 2 ** 20).toFixed(1); }

byId("upload").addEventListener("change", (event) => {
  const file = event.target.files[0];
  event.target.value = "";  // the same file may be chosen again
  if (!file) return;
  if (file.size > maxUpload) {
    clearResult();
    showMessage(`${file.name} is ${megabytes(file.size)} MB; the page reads images up to ` +
                `${megabytes(maxUpload)} MB: give a smaller one`);
    return;
  }
  showOnPad(file);
  send(file, "upload");
});

function showOnPad(file) {  // the uploaded image on the pad, fitted, so that one can draw on it
  createImageBitmap(file).then((image) => {
    const scale = Math.min(pad.width / image.width, pad.height / image.height);
    const width = image.width * scale, height = image.height * scale;
    clearPad();
    ink.drawImage(image, (pad.width - width) / 2, (pad.height - height) / 2, width, height);
  }).catch(() => {});  // a format the browser cannot show: the server still reads it
}

// --- Asking the server and showing its answer -------------------------------------------------

async function send(image, source) {
  const number = ++latest;
  let response, answer;
  try {
    response = await fetch(`predict?source=${source}`, { method: "POST", body: image });
    answer = await response.json();
  } catch (error) {
    answer = { error: response === undefined
      ? "no answer from the server: is mnist-mlp-demo still running?"
      : `the server answered ${response.status} ${response.statusText}` };
  }
  if (number !== latest) return;
  if (!response?.ok) {
    clearResult();
    showMessage(answer.error);
    return;
  }
  showMessage("");
  show(answer);
}

function show(answer) {
  showInput(answer.pixels);
  byId("digit").textContent = String(answer.digit);
  showOutputs(answer.outputs, answer.output_activation, answer.digit);
  showHidden(answer.hidden, answer.hidden_activation);
}

function showInput(pixels) {  // 784 values in [0, 1), as the uint8 / 256 they came from
  const canvas = byId("input").getContext("2d");
  const image = canvas.createImageData(28, 28);
  pixels.forEach((value, i) => {
    const level = Math.round(value * 256);
    image.data.set([level, level, level, 255], 4 * i);
  });
  canvas.putImageData(image, 0, 0);
}

function showOutputs(outputs, activation, digit) {
  byId("outputs-title").textContent = activation === "softmax"
    ? "Output layer: probabilities F(x) (softmax, they sum to 1)"
    : `Output layer: ${activation} outputs F(x), each in (0, 1) on its own ` +
      "(not probabilities: they need not sum to 1)";
  const rows = outputs.map((value, label) => {
    const row = document.createElement("div");
    row.className = label === digit ? "bar best" : "bar";
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = String(label);
    const track = document.createElement("span");
    track.className = "track";
    const fill = document.createElement("span");
    fill.className = "fill";
    fill.style.width = `${(100 * value).toFixed(1)}%`;
    track.append(fill);
    const number = document.createElement("span");
    number.className = "value";
    number.textContent = value.toFixed(3);
    row.append(name, track, number);
    return row;
  });
  byId("bars").replaceChildren(...rows);
}

function showHidden(values, activation) {
  const [low, fixedHigh, range] = HIDDEN_RANGES[activation] || [Math.min(0, ...values), null, ""];
  const high = fixedHigh ?? Math.max(...values, 1e-9);
  byId("hidden-title").textContent =
    `Hidden neurons: a¹ = ${activation}(W¹x + b¹), ${values.length} values ${range}`;
  const canvas = byId("hidden");
  const draw = canvas.getContext("2d");
  draw.clearRect(0, 0, canvas.width, canvas.height);
  const y = (value) => (high - value) / (high - low) * canvas.height;
  const step = canvas.width / values.length;
  draw.fillStyle = "#4a7bd0";
  values.forEach((value, i) => {
    const top = Math.min(y(value), y(0)), height = Math.max(1, Math.abs(y(value) - y(0)));
    draw.fillRect(i * step + step * 0.1, top, Math.max(1, step * 0.8), height);
  });
}

// --- Start -----------------------------------------------------------------------------------

byId("clear").addEventListener("click", () => {
  latest++;  // an answer still on its way is for the old drawing
  clearPad();
  clearResult();
  showMessage("");
});
byId("read").addEventListener("click", readPad);

fetch("info").then((response) => response.json()).then((info) => {
  const accuracy = info.test_accuracy == null ? ""
    : `, test accuracy ${(100 * info.test_accuracy).toFixed(2)} %`;
  byId("network").textContent =
    `${info.architecture}, after ${info.epoch} epochs${accuracy} (${info.checkpoint})`;
  maxUpload = info.max_upload;
}).catch(() => showMessage("no answer from the server: is mnist-mlp-demo still running?"));

clearPad();
clearResult();
