// raceday dashboard: one page over raceday's REST API, no build step, nothing fetched from the internet.
// Amounts arrive in integer cents, instants in UTC; the page shows NZ$ and NZ time. "Now" is the server's
// (the simulator's clock while it feeds raceday), learned from /api/races/upcoming on every refresh.
"use strict";

const NZ = "Pacific/Auckland";
const USER_ID = "Default User";
// The grid's columns before the start; minutes after it (-1, -2, ...) are added as data arrives.
const BUCKETS = [60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 4, 3, 2, 1, 0];
const LATE_BUCKET = 5; // a move in the last five minutes is "late"
const MIN_MOVE = 5; // the client's threshold: changes under 5 points are never coloured
const MEETINGS_EVERY_MS = 60000;
const STATUS_WORDS = {
  open: "Open",
  closed: "Running — betting closed",
  interim: "Interim result",
  final: "Final result",
  abandoned: "Abandoned",
};
const CHIP_WORDS = { closed: "Running", interim: "Interim", final: "Final", abandoned: "Abandoned" };
const CATEGORY_NAMES = { T: "Thoroughbred", H: "Harness", G: "Greyhounds" };
const COUNTRY_NAMES = { NZ: "New Zealand", AUS: "Australia", UK: "United Kingdom", IRE: "Ireland", USA: "USA", FR: "France" };
const POOLS = [
  ["win", "Win"], ["place", "Place"], ["quinella", "Quinella"], ["trifecta", "Trifecta"],
  ["exacta", "Exacta"], ["first4", "First Four"],
];
// Used only while /api/user-alert-configs cannot be read: the six defaults of domain §7.3.
const DEFAULT_INDICATORS = [
  [5, 10, "#E5E7EB"], [10, 15, "#BFDBFE"], [15, 20, "#FEF3C7"],
  [20, 25, "#BBF7D0"], [25, 50, "#FECACA"], [50, null, "#F3E8FF"],
].map(([min, max, color], index) => ({
  percentage_range_min: min, percentage_range_max: max, color, enabled: true, display_order: index + 1,
}));
const SILK_COLOURS = [
  ["emerald green", "#047857"], ["dark green", "#14532d"], ["light blue", "#7dd3fc"], ["royal blue", "#1d4ed8"],
  ["navy blue", "#1e2a5a"], ["sky blue", "#38bdf8"], ["navy", "#1e2a5a"], ["black", "#111111"], ["white", "#ffffff"],
  ["red", "#dc2626"], ["blue", "#2563eb"], ["green", "#16a34a"], ["lime", "#84cc16"], ["yellow", "#facc15"],
  ["gold", "#d4a017"], ["orange", "#f97316"], ["cerise", "#de3163"], ["pink", "#f9a8d4"], ["purple", "#7e22ce"],
  ["maroon", "#7f1d1d"], ["grey", "#9ca3af"], ["gray", "#9ca3af"], ["silver", "#c0c0c0"], ["cream", "#fdf6e3"],
  ["turquoise", "#2dd4bf"], ["brown", "#7c4a21"], ["beige", "#e8dcc0"], ["aqua", "#22d3ee"], ["violet", "#8b5cf6"],
  ["lilac", "#c8a2c8"], ["mauve", "#b784a7"], ["tan", "#d2b48c"], ["fawn", "#e5c49f"],
];

const state = {
  raceId: null,
  race: null,
  meeting: null,
  entrants: [],
  pools: null,
  results: null,
  navigation: null,
  timeline: new Map(),
  indicators: DEFAULT_INDICATORS,
  view: "win",
  sort: { key: "number", dir: 1 },
  skewMs: 0, // server "now" minus this browser's clock
  refreshedAt: null, // browser time of the last complete refresh
  snapshotAt: null, // server time of the newest NZ TAB snapshot shown
  intervalMs: 60000,
  timer: null,
  generation: 0,
  running: null,
  healthy: null,
  simulatedHeader: false,
  meetingsDay: null,
  meetingsAt: 0,
  meetings: [],
  meetingRaces: new Map(),
  upcoming: [],
  alerted: new Set(),
  alertsRace: null,
  sound: false,
  audio: null,
  beeps: 0,
  silkImages: new Map(),
  autoScroll: true,
  stream: null, // the open race's EventSource while it is open
  mode: "polling", // "push" while the stream delivers, else the ladder alone
  pushAgain: false, // a push arrived during a refresh: refresh once more after it
};

const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value == null || value === false) continue;
    if (name === "className") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "style") Object.assign(node.style, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// --- formatting -------------------------------------------------------------------------------------

const serverNow = () => Date.now() + state.skewMs;
const money = (cents) => {
  if (cents == null) return "—";
  return "$" + Math.round(cents / 100).toLocaleString("en-NZ");
};
const compactMoney = (cents) => {
  if (cents == null) return "";
  const dollars = cents / 100;
  if (Math.abs(dollars) >= 10000) return "$" + Math.round(dollars / 1000) + "k";
  if (Math.abs(dollars) >= 1000) return "$" + (dollars / 1000).toFixed(1) + "k";
  return "$" + Math.round(dollars);
};
const odds = (value) => (value == null || value <= 0 ? "—" : Number(value).toFixed(2));
const percent = (value) => (value == null ? "—" : Number(value).toFixed(1));
const nzTime = (iso, seconds) =>
  iso == null ? "" : new Intl.DateTimeFormat("en-NZ", {
    timeZone: NZ, hour: "2-digit", minute: "2-digit", second: seconds ? "2-digit" : undefined, hourCycle: "h23",
  }).format(new Date(iso));
const nzDay = (ms) => new Intl.DateTimeFormat("en-CA", { timeZone: NZ }).format(new Date(ms));
const nzLongDay = (day) => new Intl.DateTimeFormat("en-NZ", {
  timeZone: "UTC", weekday: "long", day: "numeric", month: "long",
}).format(new Date(day + "T00:00:00Z"));

function duration(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours) return hours + "h " + String(minutes).padStart(2, "0") + "m";
  if (minutes) return minutes + "m " + String(seconds).padStart(2, "0") + "s";
  return seconds + "s";
}

function shortUntil(iso) {
  const ms = Date.parse(iso) - serverNow();
  if (ms <= 0) return "now";
  const minutes = Math.floor(ms / 60000);
  return minutes >= 60 ? nzTime(iso) : minutes + "m";
}

function bucketLabel(bucket) {
  return bucket > 0 ? String(bucket) : bucket === 0 ? "0" : "+" + -bucket;
}

// --- the API ----------------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(path, status, detail) {
    super(path.split("?")[0] + " answered " + status + (detail ? ": " + detail : ""));
    this.status = status;
  }
}

async function api(path, { allowMissing = false } = {}) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  state.simulatedHeader = response.headers.get("X-Raceday-Simulated") === "true";
  if (allowMissing && response.status === 404) return null;
  if (!response.ok) {
    let detail = "";
    try {
      const body = await response.json();
      detail = body.error || "";
    } catch (error) {
      detail = "";
    }
    throw new ApiFailure(path, response.status, detail);
  }
  return response.json();
}

const q = encodeURIComponent;

// --- refresh: the pipeline's ladder (60 s, 30 s inside 15 minutes, 15 s inside 5 and after the start) ---

function ladderMs(race) {
  if (!race || race.status === "final" || race.status === "abandoned") return 60000;
  const toStart = Date.parse(race.start_time) - serverNow();
  if (toStart > 15 * 60000) return 60000;
  if (toStart > 5 * 60000) return 30000;
  return 15000;
}

function schedule() {
  clearTimeout(state.timer);
  state.intervalMs = ladderMs(state.race);
  const note = $("freshness");
  note.dataset.intervalMs = String(state.intervalMs);
  state.timer = setTimeout(refresh, state.intervalMs);
}

async function refresh() {
  if (state.running) return state.running;
  const generation = state.generation;
  clearTimeout(state.timer);
  const run = (async () => {
    document.body.dataset.refreshing = "true";
    const health = checkHealth();
    let failure = null;
    try {
      await loadClock();
      if (state.raceId) await loadRace(state.raceId, generation);
      await loadMeetings();
    } catch (error) {
      failure = error;
    }
    await health;
    if (failure) reportFailure(failure);
    else state.refreshedAt = Date.now();
    if (state.running === run) state.running = null;
    delete document.body.dataset.refreshing;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    if (generation === state.generation) schedule();
    if (!state.stream && state.raceId) openStream(state.raceId);
    renderBanners();
    tick();
    if (state.pushAgain) {
      state.pushAgain = false;
      refresh();
    }
  })();
  state.running = run;
  return run;
}

// --- push: the race's stream (GET /api/races/{id}/stream) refreshes the page within moments of each poll
// stored; the ladder above keeps running underneath and is all there is when the stream cannot be had ---

function setMode(mode) {
  state.mode = mode;
  document.body.dataset.mode = mode;
  tick();
}

function closeStream() {
  if (state.stream) state.stream.close();
  state.stream = null;
  setMode("polling");
}

function openStream(raceId) {
  closeStream();
  if (typeof EventSource !== "function") return;
  const source = new EventSource("/api/races/" + q(raceId) + "/stream");
  state.stream = source;
  source.addEventListener("entrants", () => {
    if (state.stream !== source) return;
    if (state.mode !== "push") setMode("push");
    document.body.dataset.pushes = String(Number(document.body.dataset.pushes || 0) + 1);
    if (state.running) state.pushAgain = true;
    else refresh();
  });
  source.addEventListener("error", () => {
    if (state.stream !== source) return;
    // CLOSED: refused (an error status, not a stream); the next refresh tries again. Otherwise the browser
    // is reconnecting by itself: the ladder carries on meanwhile.
    if (source.readyState === EventSource.CLOSED) state.stream = null;
    setMode("polling");
  });
}

async function checkHealth() {
  try {
    const response = await fetch("/health", { cache: "no-store" });
    const body = await response.json();
    state.healthy = response.ok && body.status === "healthy";
    state.healthDetail = state.healthy
      ? body.workers === "degraded" ? "workers degraded" : ""
      : body.error || "status " + response.status;
  } catch (error) {
    state.healthy = false;
    state.healthDetail = "raceday is not answering (" + error.message + ")";
  }
}

function reportFailure(error) {
  state.healthy = false;
  state.healthDetail = error.message;
}

async function loadClock() {
  const upcoming = await api("/api/races/upcoming?windowMinutes=240&lookbackMinutes=0&limit=8");
  state.skewMs = Date.parse(upcoming.timestamp) - Date.now();
  state.upcoming = upcoming.races;
  renderNextStrip();
}

async function loadRace(raceId, generation) {
  const race = await api("/api/races/" + q(raceId), { allowMissing: true });
  if (generation !== state.generation) return;
  if (race == null) {
    state.race = null;
    $("race-title").textContent = "That race is not known to raceday";
    const next = $("nav-next-to-jump");
    next.disabled = false;
    next.dataset.raceId = "";
    return;
  }
  const settled = race.status === "interim" || race.status === "final";
  const [entrants, pools, navigation, meeting, results] = await Promise.all([
    api("/api/entrants?raceId=" + q(raceId)),
    api("/api/race-pools?raceId=" + q(raceId), { allowMissing: true }),
    api("/api/races/navigation?raceId=" + q(raceId)),
    api("/api/meetings/" + q(race.meeting_id), { allowMissing: true }),
    settled ? api("/api/race-results?raceId=" + q(raceId), { allowMissing: true }) : null,
  ]);
  const timeline = await loadTimeline(raceId, entrants);
  if (generation !== state.generation) return;
  Object.assign(state, { race, entrants, pools, navigation, meeting, results, timeline });
  state.snapshotAt = newestSnapshot(entrants, pools);
  if (state.alertsRace !== raceId) {
    state.alertsRace = raceId;
    state.alerted = new Set();
    $("alerts-log").replaceChildren(el("li", { className: "muted", text: "None yet." }));
    checkLateMoves(true);
  } else {
    checkLateMoves(false);
  }
  renderRace();
}

async function loadTimeline(raceId, entrants) {
  const docs = new Map();
  if (!entrants.length) return docs;
  const ids = entrants.map((entrant) => q(entrant.entrant_id)).join(",");
  let cursor = null;
  for (let page = 0; page < 50; page += 1) {
    const after = cursor == null ? "" : "&cursorAfter=" + q(cursor);
    const body = await api("/api/money-flow-timeline?raceId=" + q(raceId) + "&entrants=" + ids + "&limit=2000" + after);
    for (const doc of body.documents) docs.set(doc.entrant_id + "|" + doc.time_interval, doc);
    if (!body.has_more || body.next_cursor == null) break;
    cursor = body.next_cursor;
  }
  return docs;
}

function newestSnapshot(entrants, pools) {
  let newest = pools && pools.last_updated ? Date.parse(pools.last_updated) : null;
  for (const entrant of entrants) {
    for (const history of [entrant.money_flow_history, entrant.odds_history]) {
      const last = history.length ? Date.parse(history[history.length - 1].timestamp) : null;
      if (last != null && (newest == null || last > newest)) newest = last;
    }
  }
  return newest;
}

async function loadMeetings() {
  const day = state.meeting ? state.meeting.date : nzDay(serverNow());
  const due = Date.now() - state.meetingsAt >= MEETINGS_EVERY_MS;
  if (day === state.meetingsDay && !due) {
    renderMeetings();
    return;
  }
  // Once a minute: the day's meetings, and the alert ranges (the bettor may have changed them elsewhere).
  await loadAlertConfig();
  const meetings = await api("/api/meetings?date=" + q(day));
  const races = await Promise.all(
    meetings.map((meeting) => api("/api/races?meetingId=" + q(meeting.meeting_id), { allowMissing: true })),
  );
  state.meetings = meetings;
  state.meetingRaces = new Map(meetings.map((meeting, index) => [meeting.meeting_id, races[index] || []]));
  state.meetingsDay = day;
  state.meetingsAt = Date.now();
  renderMeetings();
}

async function loadAlertConfig() {
  try {
    const config = await api("/api/user-alert-configs?userId=" + q(USER_ID));
    if (config.indicators && config.indicators.length) state.indicators = config.indicators;
  } catch (error) {
    state.indicators = DEFAULT_INDICATORS;
  }
  renderLegend();
}

// --- choosing the race ------------------------------------------------------------------------------

function raceFromHash() {
  const match = /^#race=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

async function nextToJump() {
  const next = await api("/api/races/next-scheduled");
  if (next) return next.race_id;
  const recent = await api("/api/races/upcoming?windowMinutes=480&lookbackMinutes=120&limit=1");
  return recent.races.length ? recent.races[0].race_id : null;
}

function go(raceId) {
  if (!raceId) return;
  if (raceFromHash() === raceId) {
    select(raceId);
  } else {
    location.hash = "race=" + encodeURIComponent(raceId);
  }
}

function select(raceId) {
  if (raceId === state.raceId && state.race) {
    refresh();
    return;
  }
  state.generation += 1;
  state.raceId = raceId;
  state.race = null;
  closeStream();
  state.running = null;
  state.autoScroll = true;
  $("race-title").textContent = "Loading the race…";
  refresh().then(() => $("race").focus({ preventScroll: true }));
}

async function goNextToJump() {
  try {
    const raceId = await nextToJump();
    if (raceId) go(raceId);
    else $("race-title").textContent = "No race is still to run today";
  } catch (error) {
    reportFailure(error);
    renderBanners();
  }
}

// --- rendering --------------------------------------------------------------------------------------

function renderBanners() {
  const simulated = state.simulatedHeader || (state.race && state.race.data_source === "simulator");
  $("simulated").hidden = !simulated;
  document.body.dataset.simulated = simulated ? "true" : "false";
  const health = $("health");
  const unhealthy = $("unhealthy");
  if (state.healthy === false) {
    health.textContent = "Backend unhealthy";
    health.classList.add("bad");
    const age = state.refreshedAt ? " Showing data from " + duration(Date.now() - state.refreshedAt) + " ago." : "";
    unhealthy.textContent = "Backend unhealthy: " + (state.healthDetail || "no answer") + "." + age;
    unhealthy.hidden = false;
  } else if (state.healthy) {
    health.textContent = state.healthDetail ? "Live (" + state.healthDetail + ")" : "Live";
    health.classList.remove("bad");
    unhealthy.hidden = true;
  }
  $("source").textContent = simulated ? "Source: raceday's NZ TAB simulator." : "Source: NZ TAB.";
}

function renderNextStrip() {
  const list = $("next-list");
  const open = state.upcoming.filter((race) => race.status === "open").slice(0, 6);
  list.replaceChildren(
    ...open.map((race) =>
      el("li", {},
        el("button", {
          type: "button", "data-race-id": race.race_id, "aria-current": race.race_id === state.raceId ? "true" : null,
          onclick: () => go(race.race_id),
        }, race.meeting_name + " R" + race.race_number + " ", el("span", { className: "soon", "data-start": race.start_time }, shortUntil(race.start_time))),
      ),
    ),
  );
  if (!open.length) list.replaceChildren(el("li", { className: "muted", text: "No open races in the next 4 hours" }));
}

function raceChip(race) {
  const word = race.status === "open" ? nzTime(race.start_time) : CHIP_WORDS[race.status] || race.status;
  return el("li", {},
    el("button", {
      type: "button",
      className: "chip-" + race.status,
      "data-race-id": race.race_id,
      "aria-current": race.race_id === state.raceId ? "true" : null,
      "aria-label": "Race " + race.race_number + ", " + (STATUS_WORDS[race.status] || race.status) + ", " + nzTime(race.start_time),
      onclick: () => go(race.race_id),
    }, "R" + race.race_number + " · " + word),
  );
}

function renderMeetings() {
  const holder = $("meetings");
  if (state.race) $("meeting-races").replaceChildren(...(state.meetingRaces.get(state.race.meeting_id) || []).map(raceChip));
  $("meetings-day").textContent = state.meetingsDay ? "· " + nzLongDay(state.meetingsDay) : "";
  if (!state.meetings.length) {
    holder.replaceChildren(el("p", { className: "muted", text: "No meetings stored for this day yet." }));
    return;
  }
  const groups = new Map();
  for (const meeting of state.meetings) {
    const key = (COUNTRY_NAMES[meeting.country] || meeting.country) + " · " +
      (CATEGORY_NAMES[meeting.category] || meeting.race_type);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(meeting);
  }
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  holder.replaceChildren(
    ...order.map((key) =>
      el("section", { className: "group", "data-group": key },
        el("h3", { className: "group-title", text: key }),
        ...groups.get(key).map((meeting) => {
          const races = state.meetingRaces.get(meeting.meeting_id) || [];
          const facts = [meeting.track_condition, meeting.weather].filter(Boolean).join(" · ");
          const current = state.race && state.race.meeting_id === meeting.meeting_id;
          return el("div", { className: "meeting", "data-meeting-id": meeting.meeting_id },
            el("div", { className: "meeting-name", "aria-current": current ? "true" : null, text: meeting.meeting_name }),
            el("div", { className: "meeting-facts", text: facts || "Track and weather not yet known" }),
            el("ol", { className: "chips", "aria-label": meeting.meeting_name + " races" }, ...races.map(raceChip)),
          );
        }),
      ),
    ),
  );
}

function rank(group) {
  return group.startsWith("New Zealand") ? 0 : group.startsWith("Australia") ? 1 : 2;
}

function renderRace() {
  const race = state.race;
  if (!race) return;
  const meeting = state.meeting;
  document.title = race.meeting_name + " R" + race.race_number + " — raceday";
  $("race-title").textContent = race.meeting_name + " R" + race.race_number + " · " + race.name;
  const kind = CATEGORY_NAMES[race.type] || (meeting && CATEGORY_NAMES[meeting.category]) || "";
  const facts = [
    kind,
    race.distance ? race.distance + " m" : null,
    race.track_condition || (meeting && meeting.track_condition),
    race.weather || (meeting && meeting.weather),
    race.field_size ? race.field_size + " starters" : null,
  ].filter(Boolean);
  $("race-meta").textContent = facts.join(" · ");
  $("start-time").textContent = "Advertised start " + nzTime(race.start_time) + " NZ time";
  renderNavigation();
  renderPools();
  renderResults();
  renderRunners();
  renderGrid();
  renderNextStrip();
  renderMeetings();
  tick();
}

function renderNavigation() {
  const nav = state.navigation || {};
  const describe = (race) => race.meeting_name + " R" + race.race_number + " " + nzTime(race.start_time);
  const wire = (id, race, label) => {
    const button = $(id);
    button.disabled = !race;
    button.dataset.raceId = race ? race.race_id : "";
    button.title = race ? describe(race) : "None";
    button.textContent = label;
  };
  wire("nav-prev", nav.previousRace, "◀ Previous race");
  wire("nav-next", nav.nextRace, "Next race ▶");
  const nextToJumpRace = nav.nextScheduledRace;
  wire("nav-next-to-jump", nextToJumpRace && nextToJumpRace.race_id !== state.raceId ? nextToJumpRace : null, "Next to jump");
}

function renderPools() {
  const pools = state.pools;
  const holder = $("pools");
  if (!pools) {
    holder.replaceChildren(el("p", { className: "muted", text: "No pool totals yet." }));
    return;
  }
  holder.replaceChildren(
    ...POOLS.map(([key, label]) =>
      el("div", { className: "pool", "data-pool": key }, el("span", { text: label }), el("strong", { text: money(pools[key + "_pool_total"]) })),
    ),
    el("div", { className: "pool total", "data-pool": "total" }, el("span", { text: "All pools" }), el("strong", { text: money(pools.total_race_pool) })),
  );
}

function renderResults() {
  const section = $("results");
  const results = state.results;
  if (!results || !(results.results_data || []).length) {
    section.hidden = true;
    return;
  }
  section.hidden = false;
  const final = results.result_status === "final";
  $("results-title").replaceChildren(
    final ? "Result — official" : "Result — interim",
    final ? "" : el("span", { className: "interim-note", text: " (dividends may change)" }),
  );
  const placings = (results.results_data || []).slice().sort((a, b) => a.position - b.position);
  $("placings").tBodies[0].replaceChildren(
    ...placings.map((place) =>
      el("tr", { "data-position": place.position },
        el("td", { text: ordinal(place.position) }),
        el("td", { text: place.runner_number }),
        el("td", { text: place.name }),
        el("td", { className: "num", text: place.position === 1 ? "" : place.positional_margin || (place.margin_length != null ? place.margin_length.toFixed(1) + " L" : "") }),
      ),
    ),
  );
  const wanted = final ? "final" : "interim";
  let dividends = (results.dividends_data || []).filter((d) => String(d.status).toLowerCase() === wanted);
  if (!dividends.length) dividends = results.dividends_data || [];
  const order = ["Pool Win", "Pool Place", "Pool Quinella", "Pool Exacta", "Pool Trifecta", "Pool First4"];
  dividends = dividends.slice().sort((a, b) => productRank(order, a) - productRank(order, b));
  $("dividends").tBodies[0].replaceChildren(
    ...dividends.map((dividend) =>
      el("tr", { "data-product": dividend.product_name },
        el("td", { text: String(dividend.product_name).replace(/^Pool /, "").replace("First4", "First Four") }),
        el("td", { text: dividend.description || (dividend.positions || []).map((p) => p.runner_number).join("-") }),
        // Dividends are JSON numbers (domain §7.4): .toFixed would throw on a numeric string.
        el("td", { className: "num", text: "$" + dividend.dividend.toFixed(2) }),
        el("td", { className: "num", text: dividend.pool_size == null ? "" : "$" + Math.round(dividend.pool_size).toLocaleString("en-NZ") }),
      ),
    ),
  );
}

function productRank(order, dividend) {
  const index = order.indexOf(dividend.product_name);
  return index < 0 ? order.length : index;
}

function ordinal(n) {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return n + suffix;
}

// --- runners ----------------------------------------------------------------------------------------

function lastChange(entrant, type) {
  const values = entrant.odds_history.filter((point) => point.type === type && point.odds != null).map((point) => point.odds);
  for (let index = values.length - 2; index >= 0; index -= 1) {
    if (values[index] !== values[values.length - 1]) return values[values.length - 1] - values[index];
  }
  return 0;
}

function trendMark(change) {
  if (!change) return el("span", { className: "trend", "aria-hidden": "true", text: "  " });
  const shorter = change < 0;
  return el("span", {
    className: "trend " + (shorter ? "firm" : "drift"),
    title: (shorter ? "Shortened by " : "Drifted by ") + Math.abs(change).toFixed(2),
    text: shorter ? " ▼" : " ▲",
  });
}

// How far the fixed win price has come since the earliest bucket of the grid (negative: shortened).
function movement(entrant) {
  if (entrant.is_scratched || entrant.fixed_win_odds == null) return null;
  for (const bucket of columns()) {
    const doc = state.timeline.get(entrant.entrant_id + "|" + bucket);
    if (doc && doc.fixed_win_odds) return ((entrant.fixed_win_odds - doc.fixed_win_odds) / doc.fixed_win_odds) * 100;
  }
  return null;
}

// Ascending comparisons; a first click sorts each column the way a bettor reads it (NATURAL).
const SORTS = {
  number: (a, b) => a.runner_number - b.runner_number,
  odds: (a, b) => (a.fixed_win_odds || Infinity) - (b.fixed_win_odds || Infinity),
  money: (a, b) => (a.win_pool_amount || 0) - (b.win_pool_amount || 0),
  movement: (a, b) => (movement(a) ?? Infinity) - (movement(b) ?? Infinity),
};
const NATURAL = { number: 1, odds: 1, money: -1, movement: 1 };

function sortedEntrants() {
  const compare = SORTS[state.sort.key];
  const sorted = state.entrants.slice().sort(
    (a, b) => state.sort.dir * compare(a, b) || a.runner_number - b.runner_number,
  );
  return [...sorted.filter((e) => !e.is_scratched), ...sorted.filter((e) => e.is_scratched)];
}

function silkColours(text) {
  const lower = (text || "").toLowerCase();
  const found = [];
  for (const [name, hex] of SILK_COLOURS) {
    for (const match of lower.matchAll(new RegExp("\\b" + name + "\\b", "g"))) {
      const at = match.index;
      const free = !found.some((item) => at < item.at + item.length && item.at < at + name.length);
      if (free) found.push({ at, length: name.length, hex });
    }
  }
  return found.sort((a, b) => a.at - b.at).map((item) => item.hex);
}

function silkBackground(text) {
  const colours = silkColours(text);
  if (!colours.length) return null;
  const [a, b = colours[0]] = colours;
  const lower = text.toLowerCase();
  if (lower.includes("hoop")) return `repeating-linear-gradient(0deg, ${a} 0 5px, ${b} 5px 9px)`;
  if (lower.includes("stripe") || lower.includes("seam")) return `repeating-linear-gradient(90deg, ${a} 0 5px, ${b} 5px 9px)`;
  if (lower.includes("halves")) return `linear-gradient(90deg, ${a} 50%, ${b} 50%)`;
  if (lower.includes("quarter")) return `conic-gradient(${a} 0 25%, ${b} 0 50%, ${a} 0 75%, ${b} 0)`;
  if (lower.includes("sash") || lower.includes("chevron")) return `linear-gradient(135deg, ${a} 38%, ${b} 38% 62%, ${a} 62%)`;
  if (lower.includes("spot") || lower.includes("star") || lower.includes("diamond")) {
    return `radial-gradient(circle, ${b} 2px, transparent 3px) 0 0 / 8px 8px, ${a}`;
  }
  return `linear-gradient(180deg, ${a} 55%, ${b} 55%)`;
}

// The silks image when it loads (it is on NZ TAB's CDN), else a swatch drawn from the colours' words.
function silk(entrant) {
  const label = entrant.silk_colours || "No silks given";
  const swatch = el("span", { className: "silk", role: "img", "aria-label": "Silks: " + label, title: label });
  const background = silkBackground(entrant.silk_colours);
  if (background) swatch.style.background = background;
  else swatch.textContent = entrant.runner_number;
  const url = entrant.silk_url_64;
  if (url) {
    const known = state.silkImages.get(url);
    if (known === "ok") swatch.replaceChildren(el("img", { src: url, alt: "" }));
    else if (known === undefined) {
      state.silkImages.set(url, "loading");
      const image = new Image();
      image.onload = () => state.silkImages.set(url, "ok");
      image.onerror = () => state.silkImages.set(url, "failed");
      image.src = url;
    }
  }
  return swatch;
}

function renderRunners() {
  const race = state.race;
  const rider = race.type === "H" ? "D" : "J";
  const body = $("runners").tBodies[0];
  const rows = sortedEntrants().map((entrant) => {
    const scratched = entrant.is_scratched;
    const move = movement(entrant);
    const badges = [
      scratched ? el("span", { className: "badge scr", text: entrant.is_late_scratched ? "LATE SCR" : "SCRATCHED" }) : null,
      !scratched && entrant.favourite ? el("span", { className: "badge fav", text: "FAV" }) : null,
      !scratched && entrant.mover ? el("span", { className: "badge mover", text: "MOVER" }) : null,
    ];
    const people = [entrant.jockey ? rider + ": " + entrant.jockey : null, entrant.trainer_name ? "T: " + entrant.trainer_name : null];
    // A price and its last move (odds_history): ▼ shortened (money coming), ▲ drifted.
    const price = (value, type, className) => el("td", { className },
      scratched ? "—" : odds(value),
      scratched ? null : trendMark(lastChange(entrant, type)),
    );
    return el("tr", {
      className: scratched ? "scratched" : null,
      "data-entrant-id": entrant.entrant_id,
      "data-runner-number": entrant.runner_number,
      "data-scratched": scratched ? "true" : "false",
    },
      el("td", { className: "num", text: entrant.runner_number }),
      el("td", { className: "silk-col" }, silk(entrant)),
      el("td", {},
        el("div", {}, el("span", { className: "runner-name", text: entrant.name }),
          entrant.barrier != null ? el("span", { className: "muted", text: " (" + entrant.barrier + ")" }) : null, ...badges),
        el("div", { className: "sub", text: people.filter(Boolean).join(" · ") }),
      ),
      price(entrant.fixed_win_odds, "fixed_win", "num"),
      price(entrant.fixed_place_odds, "fixed_place", "num opt"),
      price(entrant.pool_win_odds, "pool_win", "num opt"),
      price(entrant.pool_place_odds, "pool_place", "num opt"),
      el("td", {
        className: "num " + (move == null || Math.abs(move) < 0.5 ? "" : move < 0 ? "firm" : "drift"),
        title: move == null ? null : move < 0 ? "Firming: money coming" : "Drifting",
        text: move == null ? "—" : Math.abs(move) < 0.5 ? "0%" : (move < 0 ? "▼ " : "▲ ") + Math.abs(move).toFixed(0) + "%",
      }),
      el("td", { className: "num opt-narrow", text: scratched ? "—" : percent(entrant.hold_percentage) }),
      el("td", { className: "num opt", text: scratched ? "—" : percent(entrant.bet_percentage) }),
      el("td", { className: "num", text: scratched ? "—" : money(entrant.win_pool_amount) }),
      el("td", { className: "num opt", text: scratched ? "—" : money(entrant.place_pool_amount) }),
    );
  });
  body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 12, className: "muted", text: "No runners stored yet." }))]));
  for (const th of $("runners").tHead.rows[0].cells) {
    if (!th.dataset.sort) continue;
    if (th.dataset.sort === state.sort.key) th.setAttribute("aria-sort", state.sort.dir > 0 ? "ascending" : "descending");
    else th.removeAttribute("aria-sort");
  }
}

// --- the money-flow grid ----------------------------------------------------------------------------

function columns() {
  const after = new Set();
  for (const doc of state.timeline.values()) if (doc.time_interval < 0) after.add(doc.time_interval);
  return [...BUCKETS, ...[...after].sort((a, b) => b - a)];
}

function cellValue(doc, view) {
  if (!doc) return null;
  if (view === "odds") return doc.fixed_win_odds ?? doc.pool_win_odds ?? null;
  return view === "place" ? doc.incremental_place_amount : doc.incremental_win_amount;
}

function indicatorFor(change) {
  if (!(change >= MIN_MOVE)) return null;
  return state.indicators.find((indicator) =>
    indicator.enabled &&
    change >= indicator.percentage_range_min &&
    (indicator.percentage_range_max == null || change < indicator.percentage_range_max),
  ) || null;
}

// The client's rule (alertCalculationService): a runner's share of the money added in a bucket, against
// its share in the previous column, in percentage points; odds: how far the price shortened, in %.
function indicatorMatrix(view) {
  const matrix = new Map();
  const cols = columns();
  const runners = state.entrants.filter((entrant) => !entrant.is_scratched);
  const at = (entrant, bucket) => state.timeline.get(entrant.entrant_id + "|" + bucket);
  for (let index = 1; index < cols.length; index += 1) {
    const current = cols[index];
    const previous = cols[index - 1];
    if (view === "odds") {
      for (const entrant of runners) {
        const now = cellValue(at(entrant, current), "odds");
        const before = cellValue(at(entrant, previous), "odds");
        if (!now || !before) continue;
        const change = ((before - now) / before) * 100;
        const indicator = indicatorFor(change);
        if (indicator) matrix.set(entrant.entrant_id + "|" + current, { indicator, change });
      }
      continue;
    }
    const amount = (entrant, bucket) => Math.max(0, cellValue(at(entrant, bucket), view) || 0);
    const totalNow = runners.reduce((sum, entrant) => sum + amount(entrant, current), 0);
    const totalBefore = runners.reduce((sum, entrant) => sum + amount(entrant, previous), 0);
    if (!totalNow || !totalBefore) continue;
    for (const entrant of runners) {
      if (!at(entrant, current) || !at(entrant, previous)) continue;
      const share = (amount(entrant, current) / totalNow) * 100;
      const change = share - (amount(entrant, previous) / totalBefore) * 100;
      const indicator = indicatorFor(change);
      if (indicator) matrix.set(entrant.entrant_id + "|" + current, { indicator, change, share });
    }
  }
  return matrix;
}

// Dark text on light alert colours, white on dark ones (a user may pick any colour).
function inkOn(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.18 ? "#111827" : "#ffffff";
}

function renderLegend() {
  $("flow-legend").replaceChildren(
    ...state.indicators.filter((indicator) => indicator.enabled).map((indicator) =>
      el("li", { "data-color": indicator.color },
        el("i", { style: { background: indicator.color } }),
        indicator.percentage_range_max == null
          ? indicator.percentage_range_min + "%+"
          : indicator.percentage_range_min + "–" + indicator.percentage_range_max + "%",
      ),
    ),
  );
}

function renderGrid() {
  const view = state.view;
  const cols = columns();
  const matrix = indicatorMatrix(view);
  $("flow-caption").textContent = view === "odds"
    ? "Fixed win odds at each bucket (minutes to the start; +N after it). Coloured: how far the price shortened since the previous column."
    : "Money added to the " + view + " pool in each bucket (minutes to the start; +N after it); a runner's first column holds all it had by then. Coloured: how much its share of that money rose since the previous column.";
  const head = el("tr", {},
    el("th", { scope: "col", className: "sticky", text: "Runner" }),
    ...cols.map((bucket) => el("th", { scope: "col", "data-bucket": bucket, title: bucket >= 0 ? bucket + " min to the start" : -bucket + " min after the start", text: bucketLabel(bucket) })),
    el("th", { scope: "col", text: view === "odds" ? "Now" : "Total" }),
  );
  $("flow").tHead.replaceChildren(head);
  const rows = sortedEntrants().map((entrant) => {
    const cells = cols.map((bucket) => {
      const doc = state.timeline.get(entrant.entrant_id + "|" + bucket);
      const value = cellValue(doc, view);
      const found = matrix.get(entrant.entrant_id + "|" + bucket);
      const text = value == null ? "" : view === "odds" ? odds(value) : value > 0 ? compactMoney(value) : value < 0 ? "−" + compactMoney(-value) : "·";
      return el("td", {
        "data-bucket": bucket,
        "data-entrant-id": entrant.entrant_id,
        "data-alert": found ? found.indicator.display_order : null,
        className: (value == null ? "empty" : "") + (bucket <= LATE_BUCKET && bucket >= 0 ? " late" : ""),
        style: found ? { background: found.indicator.color, color: inkOn(found.indicator.color) } : null,
        title: found ? (view === "odds" ? "Shortened " + found.change.toFixed(0) + "%" : "Share up " + found.change.toFixed(0) + " points") : null,
        text: text || "–",
      });
    });
    const total = view === "odds" ? odds(entrant.fixed_win_odds) : money(view === "place" ? entrant.place_pool_amount : entrant.win_pool_amount);
    return el("tr", { className: entrant.is_scratched ? "scratched" : null, "data-entrant-id": entrant.entrant_id },
      el("th", { scope: "row", className: "sticky", title: entrant.name, text: entrant.runner_number + " " + entrant.name }),
      ...cells,
      el("td", { className: "now", text: entrant.is_scratched ? "SCR" : total }),
    );
  });
  $("flow").tBodies[0].replaceChildren(...rows);
  showLatestColumn(cols);
  for (const button of document.querySelectorAll(".views button")) {
    button.setAttribute("aria-pressed", button.dataset.view === view ? "true" : "false");
  }
}

// On a narrow screen the grid scrolls sideways: keep its newest column with money (or odds) in view until
// the bettor scrolls it.
function showLatestColumn(cols) {
  const wrap = $("flow").parentElement;
  if (!state.autoScroll || wrap.scrollWidth <= wrap.clientWidth) return;
  const docs = [...state.timeline.values()];
  const filled = cols.filter((bucket) =>
    docs.some((doc) => doc.time_interval === bucket && cellValue(doc, state.view)));
  if (!filled.length) return;
  const last = $("flow").tHead.querySelector(`th[data-bucket="${filled[filled.length - 1]}"]`);
  const sticky = $("flow").tHead.querySelector("th.sticky").offsetWidth;
  const spare = wrap.clientWidth - sticky;
  wrap.scrollLeft = Math.max(0, last.offsetLeft + last.offsetWidth - sticky - spare + Math.min(spare / 3, 90));
}

// --- late-money alerts ------------------------------------------------------------------------------

// "Large" is the user's two highest enabled ranges (25% and up with the defaults).
function largeMove() {
  const mins = state.indicators.filter((i) => i.enabled).map((i) => i.percentage_range_min).sort((a, b) => b - a);
  return mins.length >= 2 ? mins[1] : mins[0] ?? Infinity;
}

function checkLateMoves(quietly) {
  const threshold = largeMove();
  const matrix = indicatorMatrix("win");
  const fresh = [];
  for (const [key, found] of matrix) {
    const [entrantId, bucketText] = key.split("|");
    const bucket = Number(bucketText);
    if (bucket > LATE_BUCKET || bucket < 0 || found.change < threshold || state.alerted.has(key)) continue;
    state.alerted.add(key);
    const entrant = state.entrants.find((e) => e.entrant_id === entrantId);
    if (entrant) fresh.push({ entrant, bucket, found });
  }
  if (!fresh.length) return;
  const log = $("alerts-log");
  if (log.querySelector(".muted")) log.replaceChildren();
  for (const { entrant, bucket, found } of fresh.sort((a, b) => b.bucket - a.bucket)) {
    log.prepend(el("li", {
      "data-entrant-id": entrant.entrant_id,
      "data-bucket": bucket,
      style: { background: found.indicator.color, color: inkOn(found.indicator.color) },
    },
      (bucket === 0 ? "At the jump" : bucket + " min out") + ": #" + entrant.runner_number + " " + entrant.name +
      " took " + found.share.toFixed(0) + "% of the new win money (up " + found.change.toFixed(0) + " points)"));
  }
  if (!quietly && state.sound) beep();
}

function beep() {
  state.beeps += 1;
  document.body.dataset.beeps = String(state.beeps);
  try {
    const context = state.audio || (state.audio = new AudioContext());
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.frequency.value = 880;
    gain.gain.value = 0.2;
    oscillator.connect(gain).connect(context.destination);
    oscillator.start();
    oscillator.stop(context.currentTime + 0.3);
  } catch (error) {
    // No audio device: the alert is still listed on the page.
  }
}

function setSound(on) {
  state.sound = on;
  const button = $("sound-toggle");
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = on ? "Sound alerts: on" : "Sound alerts: off";
  try {
    localStorage.setItem("raceday.sound", on ? "on" : "off");
  } catch (error) {
    // Private mode: the choice lasts for this page only.
  }
  if (on) {
    try {
      state.audio = state.audio || new AudioContext();
      state.audio.resume();
    } catch (error) {
      state.audio = null;
    }
  }
}

// --- the clock: countdown and freshness, every second -----------------------------------------------

function tick() {
  const race = state.race;
  const countdown = $("countdown");
  const status = $("race-status");
  if (race) {
    const toStart = Date.parse(race.start_time) - serverNow();
    let word = STATUS_WORDS[race.status] || race.status;
    if (race.status === "open" && toStart <= 0) word = "Awaiting the jump";
    status.textContent = word;
    status.className = "status status-" + race.status;
    status.dataset.status = race.status;
    if (race.status === "open") {
      countdown.textContent = toStart > 0 ? "Jumps in " + duration(toStart) : "Due " + duration(toStart) + " ago";
    } else if (race.status === "closed") {
      countdown.textContent = "Jumped " + duration(Date.parse(race.actual_start || race.start_time) - serverNow()) + " ago";
    } else {
      countdown.textContent = "";
    }
    countdown.classList.toggle("imminent", race.status === "open" && toStart < 2 * 60000);
  }
  for (const soon of document.querySelectorAll("[data-start]")) soon.textContent = shortUntil(soon.dataset.start);
  const freshness = $("freshness");
  const parts = [];
  let stale = false;
  if (state.snapshotAt != null) {
    const age = serverNow() - state.snapshotAt;
    const source = document.body.dataset.simulated === "true" ? "Simulator" : "NZ TAB";
    if (race && (race.status === "final" || race.status === "abandoned")) {
      parts.push(source + " data as at " + nzTime(new Date(state.snapshotAt).toISOString(), true));
    } else {
      parts.push(source + " data " + duration(age) + " old");
      stale = age > 2 * state.intervalMs + 30000;
    }
  }
  if (state.refreshedAt != null) parts.push("refreshed " + duration(Date.now() - state.refreshedAt) + " ago");
  parts.push(state.mode === "push" ? "push" : "polling every " + state.intervalMs / 1000 + " s");
  freshness.title = state.mode === "push"
    ? "Updates are pushed as each poll is stored"
    : "No live stream: the page asks again on the race's polling ladder";
  freshness.textContent = (stale ? "STALE — " : "") + parts.join(" · ");
  freshness.classList.toggle("stale", stale);
}

// --- wiring -----------------------------------------------------------------------------------------

function wire() {
  window.addEventListener("hashchange", () => {
    const raceId = raceFromHash();
    if (raceId) select(raceId);
  });
  $("refresh-now").addEventListener("click", () => refresh());
  for (const kind of ["pointerdown", "wheel", "touchstart", "keydown"]) {
    $("flow").parentElement.addEventListener(kind, () => { state.autoScroll = false; }, { passive: true });
  }
  $("sound-toggle").addEventListener("click", () => setSound(!state.sound));
  for (const id of ["nav-prev", "nav-next", "nav-next-to-jump"]) {
    $(id).addEventListener("click", (event) => {
      const raceId = event.currentTarget.dataset.raceId;
      if (raceId) go(raceId);
      else if (id === "nav-next-to-jump") goNextToJump();
    });
  }
  for (const button of document.querySelectorAll(".views button")) {
    button.addEventListener("click", () => {
      state.view = button.dataset.view;
      renderGrid();
    });
  }
  for (const th of $("runners").tHead.rows[0].cells) {
    const key = th.dataset.sort;
    if (!key) continue;
    th.querySelector("button").addEventListener("click", () => {
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : NATURAL[key] };
      if (state.race) {
        renderRunners();
        renderGrid();
      }
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName)) return;
    const keys = {
      "[": () => $("nav-prev").click(),
      "]": () => $("nav-next").click(),
      n: () => $("nav-next-to-jump").disabled ? goNextToJump() : $("nav-next-to-jump").click(),
      r: () => refresh(),
      w: () => $("view-win").click(),
      p: () => $("view-place").click(),
      o: () => $("view-odds").click(),
    };
    const action = keys[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });
  $("meetings-details").open = window.matchMedia("(min-width: 861px)").matches;
  let stored = null;
  try {
    stored = localStorage.getItem("raceday.sound");
  } catch (error) {
    stored = null;
  }
  if (stored === "on") setSound(true);
  setInterval(tick, 1000);
}

async function boot() {
  wire();
  renderLegend();
  await loadAlertConfig();
  state.raceId = raceFromHash();
  if (!state.raceId) {
    try {
      await loadClock();
      state.raceId = await nextToJump();
      if (state.raceId) history.replaceState(null, "", "#race=" + encodeURIComponent(state.raceId));
      else $("race-title").textContent = "No race is still to run today";
    } catch (error) {
      $("race-title").textContent = "Cannot reach raceday's API";
    }
  }
  await refresh();
}

boot();
