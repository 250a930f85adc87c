// raceday dashboard: polls the REST API every few seconds; amounts arrive in integer cents.
"use strict";

const REFRESH_MS = 5000;
const BUCKETS = [60, 55, 50, 45, 40, 35, 30, 25, 20, 15, 10, 5, 4, 3, 2, 1, 0, -1, -2, -3, -4, -5];
let selected = null;

const $ = (id) => document.getElementById(id);
const dollars = (cents) => (cents == null ? "—" : "$" + (cents / 100).toLocaleString(undefined, { maximumFractionDigits: 0 }));
const percent = (value) => (value == null ? "—" : Number(value).toFixed(1));
const odds = (value) => (value == null ? "—" : Number(value).toFixed(2));

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  $("simulated").classList.toggle("on", response.headers.get("X-Raceday-Simulated") === "true");
  if (!response.ok) throw new Error(path + " answered " + response.status);
  return response.json();
}

function minutesTo(iso) {
  const minutes = Math.round((new Date(iso) - new Date()) / 60000);
  return minutes >= 0 ? "in " + minutes + " min" : Math.abs(minutes) + " min ago";
}

async function refreshHealth() {
  try {
    const health = await api("/health");
    $("health").textContent = "database " + health.database + ", workers " + health.workers;
  } catch (error) {
    $("health").textContent = "unhealthy: " + error.message;
  }
}

async function refreshRaces() {
  const data = await api("/api/races/upcoming?windowMinutes=240&lookbackMinutes=30&limit=100");
  const list = $("races");
  list.replaceChildren();
  for (const race of data.races) {
    const item = document.createElement("li");
    item.textContent = race.meeting_name + " R" + race.race_number + " — " + race.status;
    const detail = document.createElement("small");
    detail.textContent = race.name + " · " + minutesTo(race.start_time) + (race.data_source === "simulator" ? " · simulated" : "");
    item.appendChild(detail);
    item.classList.toggle("selected", race.race_id === selected);
    item.addEventListener("click", () => { selected = race.race_id; refreshRace(); refreshRaces(); });
    list.appendChild(item);
  }
  if (!data.races.length) list.innerHTML = '<li class="muted">no races in the next 4 hours</li>';
  if (!selected && data.races.length) { selected = data.races[0].race_id; refreshRace(); }
}

async function refreshRace() {
  if (!selected) return;
  const [race, entrants] = await Promise.all([api("/api/races/" + selected), api("/api/entrants?raceId=" + selected)]);
  $("race-title").textContent = race.meeting_name + " R" + race.race_number + ": " + race.name;
  $("race-meta").textContent = race.status + " · starts " + new Date(race.start_time).toLocaleTimeString() + " (" + minutesTo(race.start_time) + ")" + (race.data_source === "simulator" ? " · SIMULATED" : "");
  try {
    const pools = await api("/api/race-pools?raceId=" + selected);
    $("pools").textContent = "Win " + dollars(pools.win_pool_total) + " · Place " + dollars(pools.place_pool_total) + " · Total " + dollars(pools.total_race_pool);
  } catch (error) {
    $("pools").textContent = "no pool data yet";
  }
  const body = $("runners").querySelector("tbody");
  body.replaceChildren();
  for (const runner of entrants) {
    const row = document.createElement("tr");
    const latest = runner.money_flow_history.length ? runner.money_flow_history[runner.money_flow_history.length - 1] : {};
    cell(row, runner.runner_number);
    cell(row, runner.name, runner.is_scratched ? "name scratched" : "name");
    cell(row, runner.jockey || "");
    cell(row, odds(runner.fixed_win_odds));
    cell(row, odds(runner.pool_win_odds));
    cell(row, percent(runner.hold_percentage));
    cell(row, percent(runner.bet_percentage));
    cell(row, dollars(latest.win_pool_amount));
    cell(row, dollars(latest.place_pool_amount));
    body.appendChild(row);
  }
  await refreshFlow(entrants.filter((runner) => !runner.is_scratched));
}

async function refreshFlow(runners) {
  const head = $("flow").querySelector("thead");
  const body = $("flow").querySelector("tbody");
  if (!runners.length) { head.replaceChildren(); body.replaceChildren(); return; }
  const ids = runners.map((runner) => runner.entrant_id).join(",");
  const timeline = await api("/api/money-flow-timeline?raceId=" + selected + "&entrants=" + ids + "&limit=2000");
  const latest = new Map();
  for (const doc of timeline.documents) latest.set(doc.entrant_id + "|" + doc.time_interval, doc);
  const header = document.createElement("tr");
  cell(header, "Win money by minute to start");
  for (const bucket of BUCKETS) cell(header, bucket);
  head.replaceChildren(header);
  body.replaceChildren();
  for (const runner of runners) {
    const row = document.createElement("tr");
    cell(row, runner.runner_number + " " + runner.name);
    for (const bucket of BUCKETS) {
      const doc = latest.get(runner.entrant_id + "|" + bucket);
      const amount = doc ? doc.incremental_win_amount : null;
      cell(row, amount == null || amount <= 0 ? "—" : (bucket === 60 ? "" : "+") + dollars(amount));
    }
    body.appendChild(row);
  }
}

async function tick() {
  $("clock").textContent = new Date().toLocaleTimeString();
  await Promise.allSettled([refreshHealth(), refreshRaces(), refreshRace()]);
}

tick();
setInterval(tick, REFRESH_MS);
