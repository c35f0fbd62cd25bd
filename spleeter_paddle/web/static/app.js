// The spleeter-paddle page: uploads files one by one, then polls the job list and shows each
// job with its progress, or its stems (player, spectrogram, download) once finished.
// Text from the server (file names, messages) is only ever set with textContent.
"use strict";

const $ = (id) => document.getElementById(id);
const cards = new Map(); // job id -> {state, element}
let options = null;
let uploading = Promise.resolve();

function el(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text) node.textContent = text;
  return node;
}

function notice(text) {
  const item = el("div", { class: "notice" }, text);
  const close = el("button", { class: "remove", type: "button" }, "dismiss");
  close.addEventListener("click", () => item.remove());
  item.append(" ", close);
  $("notices").prepend(item);
}

async function loadOptions() {
  options = await (await fetch("/api/options")).json();
  for (const preset of options.presets) {
    const label = options.installed.includes(preset) ? preset : `${preset} (downloads on first use)`;
    $("preset").append(el("option", { value: preset }, label));
  }
  for (const codec of options.codecs) $("codec").append(el("option", { value: codec }, codec));
  $("limit").textContent = `Up to ${options.max_upload_mb} MB per file. ` +
    `Stems stay in the server's work folder until you remove them.`;
}

function upload(file) {
  // One request per file: a bad file is refused alone and never holds up the others.
  if (file.size > options.max_upload_mb * 1024 * 1024) {
    notice(`Upload refused: ${file.name}: file is larger than the upload limit (${options.max_upload_mb} MB)`);
    return Promise.resolve();
  }
  const query = new URLSearchParams({
    name: file.name, preset: $("preset").value, codec: $("codec").value,
    mwf: $("mwf").checked ? "true" : "false",
  });
  const pending = el("div", { class: "job uploading" });
  pending.append(el("h2", {}, file.name), el("progress", { max: "1", value: "0" }));
  $("jobs").prepend(pending);
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", `/api/jobs?${query}`);
    request.setRequestHeader("Content-Type", "application/octet-stream");
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) pending.querySelector("progress").value = event.loaded / event.total;
    };
    request.onload = () => {
      pending.remove();
      if (request.status !== 201) {
        let detail = request.statusText;
        try { detail = JSON.parse(request.responseText).detail || detail; } catch (e) { /* not JSON */ }
        notice(`Upload refused: ${detail}`);
      }
      refresh();
      resolve();
    };
    request.onerror = () => {
      pending.remove();
      notice(`${file.name}: upload failed (connection lost or refused by the server)`);
      resolve();
    };
    request.send(file);
  });
}

function addFiles(files) {
  for (const file of files) uploading = uploading.then(() => upload(file));
}

function fileUrl(job, name, download) {
  return `/api/jobs/${job.id}/files/${encodeURIComponent(name)}${download ? "?download=1" : ""}`;
}

function stemView(job, stem) {
  const box = el("div", { class: "stem", "data-instrument": stem.instrument });
  box.append(el("h3", {}, stem.instrument));
  box.append(el("img", { src: fileUrl(job, stem.picture), alt: `spectrogram of ${stem.instrument}` }));
  const controls = el("div", { class: "controls" });
  controls.append(el("audio", { controls: "", preload: "metadata", src: fileUrl(job, stem.audio) }));
  controls.append(el("a", { class: "download", href: fileUrl(job, stem.audio, true), download: "" },
    `download ${stem.audio}`));
  box.append(controls);
  return box;
}

function jobView(job) {
  const card = el("article", { class: `job ${job.state}`, "data-job": job.id });
  const title = el("h2");
  title.append(el("span", { class: "name" }, job.name), el("span", { class: "state" }, job.state));
  card.append(title);
  card.append(el("div", { class: "meta" },
    `${job.preset} · ${job.codec}${job.mwf ? " · MWF" : ""} · ${new Date(job.created * 1000).toLocaleString()}`));
  if (job.state === "queued" || job.state === "running") {
    const bar = el("progress", { max: "1" });
    if (job.progress !== null && job.progress !== undefined) bar.value = job.progress;
    card.append(bar);
  }
  if (job.state === "failed") card.append(el("p", { class: "error" }, job.message));
  for (const warning of job.warnings || []) card.append(el("p", { class: "warning" }, warning));
  if (job.state === "done") {
    for (const stem of job.stems) card.append(stemView(job, stem));
    card.append(el("a", { class: "archive", href: fileUrl(job, job.archive, true), download: "" },
      "download all stems (zip)"));
  }
  const act = (label, action) => {
    const button = el("button", { class: label, type: "button" }, label);
    button.addEventListener("click", async () => {
      const response = await fetch(`/api/jobs/${job.id}/${action}`, { method: "POST" });
      if (!response.ok) notice(`${job.name}: ${(await response.json()).detail}`);
      refresh();
    });
    card.append(" ", button);
  };
  if (job.state === "queued" || job.state === "running") act("cancel", "cancel");
  if (job.state === "failed") act("retry", "retry");
  if (job.state !== "running") {
    const remove = el("button", { class: "remove", type: "button" }, "remove");
    remove.addEventListener("click", async () => {
      const response = await fetch(`/api/jobs/${job.id}`, { method: "DELETE" });
      if (!response.ok) notice(`${job.name}: ${(await response.json()).detail}`);
      refresh();
    });
    card.append(" ", remove);
  }
  return card;
}

async function refresh() {
  let jobs;
  try {
    jobs = (await (await fetch("/api/jobs")).json()).jobs;
  } catch (error) {
    return false; // server restarting: try again at the next tick
  }
  const seen = new Set();
  let anchor = null; // the card placed last; cards follow the server's order (newest first)
  for (const job of jobs) {
    seen.add(job.id);
    let card = cards.get(job.id);
    if (!card || card.state !== job.state) {
      // Rebuilt only when the state changes, so a playing stem is never interrupted.
      const element = jobView(job);
      if (card) card.element.replaceWith(element);
      card = { state: job.state, element };
      cards.set(job.id, card);
    } else if (job.progress !== null && job.progress !== undefined) {
      const bar = card.element.querySelector("progress");
      if (bar) bar.value = job.progress;
    }
    // Moved only when out of place: no needless changes under the user.
    const current = anchor ? anchor.nextElementSibling : $("jobs").querySelector("article.job");
    if (current !== card.element) {
      if (anchor) anchor.after(card.element);
      else if (current) current.before(card.element);
      else $("jobs").append(card.element);
    }
    anchor = card.element;
  }
  for (const [id, card] of cards) {
    if (!seen.has(id)) { card.element.remove(); cards.delete(id); }
  }
  return jobs.some((job) => job.state === "queued" || job.state === "running");
}

async function poll() {
  const busy = await refresh();
  setTimeout(poll, busy ? 700 : 3000);
}

function setUpDrop() {
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    addFiles(event.dataTransfer.files);
  });
  $("files").addEventListener("change", () => {
    addFiles(Array.from($("files").files));
    $("files").value = "";
  });
}

loadOptions().then(() => { setUpDrop(); poll(); });
