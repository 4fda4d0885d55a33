// briefcut studio: a thin script over the JSON API. Everything shown is read from the server, so a
// reload (or a second browser) shows the same state; progress arrives as server-sent events.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { run: null, source: null, shown: "", timer: null, dry: null, versions: [] };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function csrf() {
  const m = document.cookie.match(/(?:^|; )briefcut_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(path, options = {}) {
  const headers = { "x-csrf-token": csrf(), ...(options.headers || {}) };
  const res = await fetch(path, { ...options, headers, credentials: "same-origin" });
  const body = res.headers.get("content-type")?.includes("json") ? await res.json() : await res.text();
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

const num = (v, d = 2) => (typeof v === "number" ? v.toFixed(d) : "—");

// 1. routing --------------------------------------------------------------------------------------
function route() {
  const hash = location.hash || "#/";
  for (const v of ["runs", "new", "run"]) $(`#view-${v}`).hidden = true;
  if (state.source) { state.source.close(); state.source = null; }
  const m = hash.match(/^#\/runs\/([\w.-]+)/);
  if (m) { $("#view-run").hidden = false; openRun(m[1]); }
  else if (hash.startsWith("#/new")) { $("#view-new").hidden = false; openEditor(); }
  else { $("#view-runs").hidden = false; listRuns(); }
}

async function listRuns() {
  const { runs } = await api("/api/runs");
  const body = $("#runs-table tbody");
  body.replaceChildren(...runs.map((r) => h("tr", {},
    h("td", {}, h("a", { href: `#/runs/${r.id}` }, r.id)),
    h("td", {}, h("span", { class: `badge ${r.status}` }, r.status)),
    h("td", {}, (r.brief_path || "").split("/").pop()), h("td", {}, r.profile || ""),
    h("td", {}, new Date(r.created_at * 1000).toLocaleString()))));
  $("#runs-empty").hidden = runs.length > 0;
}

// 2. the brief editor -----------------------------------------------------------------------------
let editorReady = false;
async function openEditor() {
  if (editorReady) return;
  editorReady = true;
  $("#brief-pick").addEventListener("change", async (e) => {
    if (!e.target.value) return;
    $("#brief-text").value = await api(`/api/briefs/${e.target.value}`);
    $("#brief-name").value = e.target.value;
    validateSoon(0);
  });
  $("#brief-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    $("#brief-text").value = await file.text();
    if (!$("#brief-name").value || $("#brief-name").value === "brief.yaml") $("#brief-name").value = file.name;
    validateSoon(0);
  });
  $("#brief-text").addEventListener("input", () => validateSoon());
  $("#brief-name").addEventListener("input", () => validateSoon());
  $("#start").addEventListener("click", startRun);
  const { briefs } = await api("/api/briefs");  // after the handlers: a file chosen meanwhile is not lost
  $("#brief-pick").append(...briefs.map((b) => h("option", { value: b }, b)));
}

function validateSoon(ms = 400) {
  clearTimeout(state.timer);
  state.timer = setTimeout(validate, ms);
}

async function validate() {
  const text = $("#brief-text").value;
  const out = $("#validation");
  if (!text.trim()) { out.textContent = "Write or open a brief; it is checked as you type."; return; }
  const name = encodeURIComponent($("#brief-name").value || "brief.yaml");
  try {
    const r = await api(`/api/validate?name=${name}`, { method: "POST", body: text, headers: { "content-type": "application/yaml" } });
    $("#brief-text").classList.toggle("invalid", !r.ok);
    $("#brief-text").setAttribute("aria-invalid", r.ok ? "false" : "true");
    if (r.ok) {
      out.className = "ok";
      out.replaceChildren(`Valid: ${r.segments.length} segment(s) (${r.segments.join(", ")}), ${r.variants} variant(s), ` +
        `${r.formats.join(", ")}, ${r.duration_s} s`);
    } else {
      out.className = "error";
      out.replaceChildren(r.error, " ", r.line ? h("button", { type: "button", class: "secondary", onclick: () => goToLine(r.line) },
        `Go to line ${r.line}`) : "");
    }
  } catch (err) { out.className = "error"; out.textContent = err.message; }
}

function goToLine(line) {
  const area = $("#brief-text");
  const lines = area.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

async function startRun() {
  const params = new URLSearchParams({ name: $("#brief-name").value || "brief.yaml" });
  for (const [key, id] of [["profile", "#opt-profile"], ["resolution", "#opt-resolution"], ["variants", "#opt-variants"], ["formats", "#opt-formats"]]) {
    if ($(id).value.trim()) params.set(key, $(id).value.trim());
  }
  $("#start-error").textContent = "";
  $("#start").disabled = true;
  try {
    const { run_id } = await api(`/api/runs?${params}`, { method: "POST", body: $("#brief-text").value, headers: { "content-type": "application/yaml" } });
    location.hash = `#/runs/${run_id}`;
  } catch (err) { $("#start-error").textContent = err.message; }
  finally { $("#start").disabled = false; }
}

// 3. a run: progress, review, chat edits, export --------------------------------------------------
async function openRun(id) {
  state.run = null;
  state.shown = "";
  $("#run-title").textContent = `Run ${id}`;
  $("#dry-run").replaceChildren();
  $("#export-result").textContent = "";
  await refresh(id);
  const after = state.run ? state.run.progress.last_event : 0;
  state.source = new EventSource(`/api/runs/${id}/events?after=${after}`);
  state.source.onmessage = () => refreshSoon(id);
  for (const kind of ["stage", "advance", "note", "warning", "run_running", "run_done", "run_failed", "run_created",
    "planned", "scored", "refined", "edited", "approved", "studio_failed", "take_failed"]) {
    state.source.addEventListener(kind, () => refreshSoon(id));
  }
}

let pending = null;
function refreshSoon(id) {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(id); }, 250);
}

async function refresh(id) {
  let run;
  try { run = await api(`/api/runs/${id}`); } catch (err) { $("#run-error").textContent = err.message; return; }
  state.run = run;
  const status = run.busy && run.status === "done" ? "running" : run.status;
  $("#run-status").textContent = status;
  $("#run-status").className = `badge ${status}`;
  $("#run-meta").textContent = `${run.name || ""} · profile ${run.profile || "?"} · version ${run.version}`;
  $("#run-error").textContent = run.error || "";
  showProgress(run);
  const signature = `${run.version}|${run.status}|${run.busy}|${run.versions.length}`;
  if (signature !== state.shown) {
    state.shown = signature;
    showReview(run);
    if (!run.busy && $("#dry-run .ok")) $("#dry-run").replaceChildren();  // "version N is rendering" is over
  }
  showEdits(run);
}

function showProgress(run) {
  $("#stages").replaceChildren(...run.progress.stages.map((s) => h("div", { class: "stage" },
    h("span", { id: `stage-${s.stage}` }, s.stage),
    h("progress", { max: Math.max(s.total, 1), value: s.done, "aria-labelledby": `stage-${s.stage}` }),
    h("span", { class: "muted" }, `${s.done} / ${s.total}`))));
  $("#takes").replaceChildren(...run.takes.filter((t) => t.kind === "video").map((t) => h("span", {
    role: "listitem", class: `take ${t.status === "done" ? (t.rendered ? "done" : "cached") : t.status}`,
    title: `${t.plan_key} shot ${t.shot + 1} ${t.format} take ${t.take_no} (round ${t.round}): ${t.status}` +
      (t.composite != null ? `, score ${num(t.composite)}` : "") + (t.reason ? ` — ${t.reason}` : ""),
    "aria-label": `${t.plan_key} shot ${t.shot + 1} ${t.format}: ${t.status}`,
  })));
  $("#notes").replaceChildren(...(run.notes || []).map((n) => h("li", {}, n)));
}

function showReview(run) {
  const has = run.versions.length > 0;
  for (const id of ["#review", "#chat", "#export"]) $(id).hidden = !has;
  if (!has) return;
  const latest = run.versions[0];
  $("#review-version").textContent = `version ${latest.version}`;
  const plans = {};
  for (const cut of latest.cuts) (plans[cut.plan_key] ||= []).push(cut);
  $("#cuts").replaceChildren(...Object.entries(plans).map(([key, cuts]) => h("div", { class: "plan" },
    h("h4", {}, `${key}`, latest.diff[key] ? h("span", { class: "muted" }, ` — changed: ${latest.diff[key].join("; ")}`) : ""),
    h("div", { class: "formats" }, cuts.map((c) => cutCard(c, run.approved.includes(c.id)))))));
  $("#variants tbody").replaceChildren(...run.variants.flatMap((g) => g.variants.map((v) => h("tr", {},
    h("th", { scope: "row" }, g.segment), h("td", {}, `v${v.variant}`),
    h("td", {}, Object.entries(v.scores).map(([f, s]) => `${f}: ${num(s)}`).join(", ")),
    h("td", {}, v.varies.length ? v.varies.join("; ") : (v.variant === 0 ? "the reference" : "nothing in the plan"))))));
  const options = run.versions.map((v) => h("option", { value: v.version }, `version ${v.version}`));
  $("#cmp-a").replaceChildren(...options.map((o) => o.cloneNode(true)));
  $("#cmp-b").replaceChildren(...options);
  $("#cmp-a").value = run.versions[run.versions.length > 1 ? 1 : 0].version;
  $("#cmp-b").value = latest.version;
  $("#cmp-a").onchange = $("#cmp-b").onchange = () => showCompare(run);
  showCompare(run);
}

function cutCard(c, approved) {
  const stem = c.path.split("/").pop();
  return h("figure", { class: "cut", "data-cut": c.id },
    h("video", { controls: true, preload: "metadata", src: c.url, poster: c.poster_url, "aria-label": `${c.plan_key} ${c.format} cut` }),
    h("figcaption", {},
      h("div", {}, h("span", { class: "score" }, num(c.composite)), ` ${c.format} · ${c.duration_s.toFixed(1)} s · `,
        h("a", { href: c.url, download: stem }, "download"), c.srt_url ? [" · ", h("a", { href: c.srt_url }, "captions")] : ""),
      h("label", {}, h("input", { type: "checkbox", class: "approve", value: c.id, checked: approved }), " Approve this cut"),
      c.weak_shots.length ? h("p", { class: "error" }, `Weak shots: ${c.weak_shots.map((s) => s + 1).join(", ")}`) : "",
      (c.warnings || []).map((w) => h("p", { class: "muted" }, `warning: ${w.kind}: ${w.detail}`)),
      h("details", {}, h("summary", {}, "Scorecard and contact sheet"), scoreTable(c),
        c.contact_url ? h("img", { class: "sheet", src: c.contact_url, alt: `contact sheet of ${c.plan_key} ${c.format}` }) : "")));
}

function scoreTable(c) {
  const shots = (c.scorecard && c.scorecard.shots) || [];
  const names = [...new Set(shots.flatMap((s) => Object.keys(s.metrics)))].filter((n) => shots.some((s) => s.metrics[n] != null));
  return h("table", { class: "scorecard" },
    h("caption", { class: "sr" }, `Scorecard of ${c.plan_key} ${c.format}`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "shot"), h("th", { scope: "col" }, "score"),
      names.map((n) => h("th", { scope: "col" }, n.replaceAll("_", " "))), h("th", { scope: "col" }, "why weak"))),
    h("tbody", {}, shots.map((s) => h("tr", { class: s.weak ? "weak" : "" }, h("th", { scope: "row" }, s.shot + 1),
      h("td", { class: "num" }, num(s.composite)), names.map((n) => h("td", { class: "num" }, num(s.metrics[n]))),
      h("td", {}, s.weak ? s.reasons.join("; ") : "")))));
}

function showCompare(run) {
  const pick = (sel) => run.versions.find((v) => String(v.version) === $(sel).value);
  const a = pick("#cmp-a"), b = pick("#cmp-b");
  if (!a || !b) return;
  if (run.versions.length < 2) {
    $("#compare").replaceChildren(h("p", { class: "muted" }, "One version so far: an edit below makes the next."));
    return;
  }
  const rows = a.cuts.map((ca) => [ca, b.cuts.find((cb) => cb.plan_key === ca.plan_key && cb.format === ca.format)]);
  $("#compare").replaceChildren(...rows.map(([ca, cb]) => h("div", { class: "plan" },
    h("h4", {}, `${ca.plan_key} ${ca.format}`, b.diff[ca.plan_key] ? h("span", { class: "muted" }, ` — v${b.version} changed: ${b.diff[ca.plan_key].join("; ")}`) : ""),
    h("div", { class: "formats" }, [[a, ca], [b, cb]].filter(([, c]) => c).map(([v, c]) => h("figure", { class: "cut" },
      h("video", { controls: true, preload: "metadata", src: c.url, "aria-label": `version ${v.version} ${c.plan_key} ${c.format}` }),
      h("figcaption", {}, `version ${v.version}: score ${num(c.composite)}`)))))));
}

// 4. chat edits -----------------------------------------------------------------------------------
function showEdits(run) {
  $("#edit-history").replaceChildren(...run.edits.map((e) => h("li", {},
    `v${e.version}: "${e.message}" — ${e.confirmed ? "confirmed" : "not confirmed"}`)));
  $("#edit-send").disabled = run.status !== "done" || run.busy;
}

async function sendEdit(ev) {
  ev.preventDefault();
  const message = $("#edit-message").value.trim();
  if (!message || !state.run) return;
  const out = $("#dry-run");
  out.replaceChildren(h("p", { class: "muted" }, "Working out what this changes…"));
  try {
    const r = await api(`/api/runs/${state.run.run_id}/edits`, { method: "POST", body: JSON.stringify({ message }),
      headers: { "content-type": "application/json" } });
    if (r.help) { out.replaceChildren(h("pre", {}, r.help)); return; }
    state.dry = r;
    out.replaceChildren(dryRunPanel(r));
    $("#edit-confirm").focus();
  } catch (err) { out.replaceChildren(h("p", { class: "error", role: "alert" }, err.message)); }
}

function dryRunPanel(r) {
  const d = r.dry_run;
  return h("div", { class: "dry", id: "dry-run-panel" },
    h("h4", {}, `Dry run of "${r.message}" (nothing rendered yet)`),
    h("ul", {}, d.ops.map((o) => h("li", {}, o.replace(/^- /, "")))),
    d.notes.map((n) => h("p", { class: "muted" }, `note: ${n}`)),
    h("table", {}, h("thead", {}, h("tr", {}, ["plan", "renders again", "kept as is", "changes"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, Object.entries(d.plans).map(([key, p]) => h("tr", {}, h("th", { scope: "row" }, key),
        h("td", { class: "renders" }, [p.video_shots.length ? `pictures of shot ${p.video_shots.join(", ")} (${p.video_takes} take(s))` : "no pictures",
          p.sound_shots.length ? `; sound of shot ${p.sound_shots.join(", ")}` : "", p.music ? "; the music" : ""].join("")),
        h("td", { class: "kept" }, p.kept_shots.length ? `shots ${p.kept_shots.join(", ")}` + (p.music ? "" : ", the music") : (p.music ? "nothing" : "the music")),
        h("td", {}, p.diff.join("; ") || "nothing"))))),
    h("button", { id: "edit-confirm", type: "button", onclick: confirmEdit }, "Confirm and render"),
    h("button", { type: "button", class: "secondary", onclick: () => { state.dry = null; $("#dry-run").replaceChildren(); } }, "Discard"));
}

async function confirmEdit() {
  const r = state.dry;
  if (!r) return;
  $("#edit-confirm").disabled = true;
  try {
    await api(`/api/runs/${r.run_id}/edits/${r.edit_id}/confirm`, { method: "POST" });
    $("#dry-run").replaceChildren(h("p", { class: "ok" }, `Confirmed: version ${r.version + 1} is rendering.`));
    $("#edit-message").value = "";
    state.dry = null;
    refreshSoon(r.run_id);
  } catch (err) { $("#dry-run").append(h("p", { class: "error", role: "alert" }, err.message)); }
}

// 5. approve and export ---------------------------------------------------------------------------
async function approve() {
  const cuts = [...document.querySelectorAll("#cuts input.approve:checked")].map((i) => i.value);
  try {
    await api(`/api/runs/${state.run.run_id}/approve`, { method: "POST", body: JSON.stringify({ cuts }), headers: { "content-type": "application/json" } });
    $("#export-result").textContent = `Approved ${cuts.length} cut(s).`;
  } catch (err) { $("#export-result").textContent = err.message; }
}

async function exportBundle() {
  try {
    const r = await api(`/api/runs/${state.run.run_id}/export`, { method: "POST" });
    $("#export-result").replaceChildren("Bundle ready: ", h("a", { id: "bundle-link", href: r.bundle, download: "" },
      r.bundle.split("/").pop()), ` (${(r.bytes / 1024).toFixed(0)} KiB)`);
  } catch (err) { $("#export-result").textContent = err.message; }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#edit-form").addEventListener("submit", sendEdit);
  $("#approve").addEventListener("click", approve);
  $("#export-bundle").addEventListener("click", exportBundle);
  route();
});
