// The Sources tab of the web page: each collection's buckets and folders, their latest sync and
// its counts, and a button to sync one now. It uses app.js's `api` and `$`.
"use strict";

function sourceCell(value) {
  const cell = document.createElement("td");
  cell.append(value instanceof Node ? value : String(value));
  return cell;
}

function sourceRow(source) {
  const row = document.createElement("tr");
  row.className = "source";
  row.dataset.id = source.source_id;
  const last = source.last_sync;
  const when = last ? `${last.started_at.slice(0, 19).replace("T", " ")} ${last.status || "expired"}` : "never";
  const button = Object.assign(document.createElement("button"), {
    type: "button", className: "sync-now", textContent: source.syncing ? "syncing…" : "Sync now",
  });
  button.disabled = source.syncing;
  button.onclick = () => syncNow(source, button);
  const counts = ["added", "updated", "removed", "unchanged", "failed"].map((name) => (last ? last[name] : "–"));
  const every = source.interval_s ? `${source.interval_s} s` : "–";
  row.append(...[source.collection, source.uri, every, when, ...counts, button].map(sourceCell));
  return row;
}

async function syncNow(source, button) {
  button.disabled = true;
  try {
    const path = `/v1/collections/${encodeURIComponent(source.collection)}/sources/${source.source_id}/sync`;
    const { job_id } = await api("POST", path, {});
    $("sources-status").textContent = `sync of ${source.uri} started: job ${job_id}`;
  } catch (error) {
    $("sources-status").textContent = error.message;
  }
  refreshSources();
}

async function refreshSources() {
  if ($("sources-view").hidden) return;
  try {
    const { data } = await api("GET", "/v1/collections");
    const lists = await Promise.all(
      data.map((c) => api("GET", `/v1/collections/${encodeURIComponent(c.name)}/sources`)),
    );
    const rows = lists.flatMap((list) => list.data.map(sourceRow));
    document.querySelector("#sources tbody").replaceChildren(...rows);
    if (!rows.length) $("sources-status").textContent = "No sources yet.";
  } catch (error) {
    $("sources-status").textContent = error.message;
  }
}

window.refreshSources = refreshSources;
setInterval(refreshSources, 2000);
refreshSources();
