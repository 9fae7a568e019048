// The mmsearch web page: search a collection by text, by image or both, with metadata filters
// (videos: their best moments, played from the moment); follow ingest jobs (sources: sources.js). It only calls the public HTTP API, with the key the user enters.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { image: null, thumbnails: [], collections: [] };

function headers(extra = {}) {
  const key = localStorage.getItem("mmsearch-key");
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

async function api(method, path, body) {
  const init = { method, headers: headers() };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = headers({ "Content-Type": "application/json" });
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || { code: "http_error", message: response.statusText };
    throw new Error(`${error.code}: ${error.message}`);
  }
  return data;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "muted";
}

async function loadCollections() {
  try {
    const { data } = await api("GET", "/v1/collections");
    const select = $("collection");
    const chosen = localStorage.getItem("mmsearch-collection");
    state.collections = data;
    select.replaceChildren(...data.map((c) => new Option(`${c.name} (${c.count})`, c.name)));
    if (data.some((c) => c.name === chosen)) select.value = chosen;
    noticeRandomWeights();
    if (!data.length) say("No collections yet: create one and ingest images (see /docs).");
  } catch (error) {
    say(`Cannot list collections: ${error.message}`, true);
  }
}

// Random weights (a test or demo model) rank by chance: say so where the results appear.
function noticeRandomWeights() {
  const chosen = state.collections.find((c) => c.name === $("collection").value);
  const notice = $("random-weights");
  notice.hidden = !(chosen && chosen.random_weights);
  if (!notice.hidden) {
    notice.textContent = `${chosen.name} uses random weights (${chosen.model}): rankings are meaningless.`;
  }
}

function addFilterRow(key = "", value = "") {
  const row = document.createElement("div");
  row.className = "filter-row";
  const k = Object.assign(document.createElement("input"), { placeholder: "field", value: key });
  const v = Object.assign(document.createElement("input"), { placeholder: "value", value });
  const remove = Object.assign(document.createElement("button"), { type: "button", textContent: "×" });
  remove.onclick = () => row.remove();
  k.className = "filter-key";
  v.className = "filter-value";
  row.append(k, v, remove);
  $("filter-rows").append(row);
}

function filterJson() {
  const must = [];
  for (const row of document.querySelectorAll(".filter-row")) {
    const key = row.querySelector(".filter-key").value.trim();
    const raw = row.querySelector(".filter-value").value.trim();
    if (!key || !raw) continue;
    const number = Number(raw);
    const value = raw === "true" || raw === "false" ? raw === "true" : Number.isNaN(number) ? raw : number;
    must.push({ key, match: { value } });
  }
  return must.length ? { must } : undefined;
}

function setImage(file) {
  state.image = file;
  $("drop").classList.toggle("set", Boolean(file));
  $("drop-label").textContent = file ? `image: ${file.name} (click to clear)` : "or drop an image here";
}

async function search(event) {
  event.preventDefault();
  const collection = $("collection").value;
  if (!collection) return say("Choose a collection first.", true);
  localStorage.setItem("mmsearch-collection", collection);
  const text = $("query").value.trim();
  const request = { limit: Number($("limit").value) || 24, filter: filterJson() };
  const byVideo = $("by-video").checked;
  const mode = $("mode").value;
  if (mode !== "image") request.mode = mode;
  if (mode === "keyword" && (state.image || !text)) return say("Exact words need a text query.", true);
  if (byVideo && (mode === "hybrid" || mode === "keyword")) {
    return say("Videos' best moments rank by look or by caption meaning.", true);
  }
  if (byVideo) Object.assign(request, { group_by: "video", group_size: 4 });
  if (state.image && text) request.query = [{ text, weight: 1 }, { image: { upload: "image" }, weight: 1 }];
  else if (state.image) request.image = { upload: "image" };
  else if (text) request.text = text;
  else return say("Type a query or drop an image.", true);
  let body = request;
  if (state.image) {
    body = new FormData();
    body.append("request", JSON.stringify(request));
    body.append("image", state.image);
  }
  say("Searching…");
  try {
    const found = await api("POST", `/v1/collections/${encodeURIComponent(collection)}/search`, body);
    if (byVideo) {
      renderGroups(collection, found.groups || []);
      say(`${(found.groups || []).length} videos in ${found.took_ms.toFixed(1)} ms`);
    } else {
      render(collection, found.results);
      say(`${found.results.length} results in ${found.took_ms.toFixed(1)} ms`);
    }
  } catch (error) {
    say(error.message, true);
  }
}

function clearThumbnails() {
  state.thumbnails.forEach((url) => URL.revokeObjectURL(url));
  state.thumbnails = [];
}

// "1:02.5": a moment's time, as the results show it.
function clock(t) {
  const minutes = Math.floor(t / 60);
  const seconds = (t - minutes * 60).toFixed(1).padStart(4, "0");
  return `${minutes}:${seconds}`;
}

function card(collection, hit) {
  const figure = document.createElement("figure");
  figure.className = "card";
  figure.dataset.id = hit.id;
  const img = document.createElement("img");
  img.alt = hit.id;
  thumbnail(collection, hit.id, img, hit.video ? hit.video.t : undefined);
  const meta = document.createElement("figcaption");
  meta.className = "meta";
  const score = Object.assign(document.createElement("span"), { className: "score", textContent: hit.score.toFixed(4) });
  const id = Object.assign(document.createElement("div"), { className: "id", textContent: hit.id });
  const details = Object.assign(document.createElement("pre"), {
    textContent: [hit.text, Object.keys(hit.metadata).length ? JSON.stringify(hit.metadata) : ""].filter(Boolean).join("\n"),
  });
  meta.append(score, id, details);
  if (hit.video) {
    const play = Object.assign(document.createElement("button"), {
      type: "button", className: "moment", textContent: `▶ ${clock(hit.video.t)}`,
    });
    play.dataset.t = String(hit.video.t);
    play.onclick = () => playAt(collection, hit.video.id, hit.video.t);
    meta.append(play);
  }
  figure.append(img, meta);
  return figure;
}

function render(collection, hits) {
  clearThumbnails();
  $("results").replaceChildren(...hits.map((hit) => card(collection, hit)));
}

// One row per video: its best moments, each with its time.
function renderGroups(collection, groups) {
  clearThumbnails();
  const rows = groups.map((group) => {
    const row = document.createElement("section");
    row.className = "video-group";
    row.dataset.id = String(group.key);
    const title = Object.assign(document.createElement("h3"), { textContent: String(group.key) });
    const moments = document.createElement("div");
    moments.className = "grid";
    moments.append(...group.results.map((hit) => card(collection, hit)));
    row.append(title, moments);
    return row;
  });
  $("results").replaceChildren(...rows);
}

// Players send no key: ask the API for a signed link to the video, and start at the moment.
async function playAt(collection, id, t) {
  try {
    const link = await api("POST", `/v1/collections/${encodeURIComponent(collection)}/media-links`, { id });
    const video = $("video");
    video.src = `${link.url}#t=${t}`;
    $("player-label").textContent = `${id} from ${clock(t)}`;
    $("player").hidden = false;
    video.play().catch(() => {});
  } catch (error) {
    say(error.message, true);
  }
}

async function thumbnail(collection, id, img, t) {
  const at = t === undefined ? "" : `?t=${t}`;
  const path = `/v1/collections/${encodeURIComponent(collection)}/thumbnails/${id.split("/").map(encodeURIComponent).join("/")}${at}`;
  try {
    const response = await fetch(path, { headers: headers() });
    if (!response.ok) return;
    const url = URL.createObjectURL(await response.blob());
    state.thumbnails.push(url);
    img.src = url;
  } catch (_) {
    /* the card stays without a picture */
  }
}

async function refreshJobs() {
  if ($("jobs-view").hidden) return;
  try {
    const { data } = await api("GET", "/v1/jobs?limit=50");
    const rows = data.map((job) => {
      const row = document.createElement("tr");
      row.className = "job";
      row.dataset.id = job.job_id;
      const done = job.succeeded + job.failed + job.skipped;
      const bar = Object.assign(document.createElement("progress"), { max: job.total || 1, value: done });
      const cells = [job.job_id.slice(0, 12), job.collection, job.status, bar, job.failed, job.updated_at.slice(11, 19)];
      row.append(...cells.map((value) => {
        const cell = document.createElement("td");
        cell.append(value instanceof Node ? value : String(value));
        return cell;
      }));
      row.onclick = () => showErrors(job.job_id);
      return row;
    });
    document.querySelector("#jobs tbody").replaceChildren(...rows);
  } catch (error) {
    $("job-errors").textContent = error.message;
  }
}

async function showErrors(jobId) {
  const job = await api("GET", `/v1/jobs/${jobId}?errors_limit=100`);
  const list = document.createElement("ul");
  list.append(...job.errors.map((e) => Object.assign(document.createElement("li"), { textContent: `${e.code}: ${e.uri} — ${e.message}` })));
  const title = Object.assign(document.createElement("h3"), { textContent: `Job ${jobId}: ${job.error_count} item errors` });
  $("job-errors").replaceChildren(title, list);
}

const VIEWS = ["search", "jobs", "sources"];

function route() {
  const shown = VIEWS.find((view) => location.hash === `#${view}`) || "search";
  for (const view of VIEWS) {
    $(`${view}-view`).hidden = view !== shown;
    $(`tab-${view}`).classList.toggle("active", view === shown);
  }
  if (shown === "jobs") refreshJobs();
  if (shown === "sources" && window.refreshSources) window.refreshSources();
}

function init() {
  $("api-key").value = localStorage.getItem("mmsearch-key") || "";
  $("api-key").onchange = (e) => {
    localStorage.setItem("mmsearch-key", e.target.value.trim());
    loadCollections();
  };
  $("search-form").onsubmit = search;
  $("collection").onchange = noticeRandomWeights;
  $("add-filter").onclick = () => addFilterRow();
  $("player-close").onclick = () => {
    $("video").pause();
    $("video").removeAttribute("src");
    $("player").hidden = true;
  };
  const drop = $("drop");
  drop.onclick = (e) => {
    if (state.image) { e.preventDefault(); setImage(null); }
  };
  $("image").onchange = (e) => setImage(e.target.files[0] || null);
  drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files[0]) setImage(e.dataTransfer.files[0]);
  };
  window.onhashchange = route;
  setInterval(refreshJobs, 1000);
  route();
  loadCollections();
}

init();
