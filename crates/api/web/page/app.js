// The balance page: built only on the public GraphQL API at /graphql (queries over HTTP, live
// updates over one graphql-transport-ws WebSocket). Plain ES module, no build step; uPlot and the
// graphql-ws client are loaded before it as classic scripts (globals `uPlot`, `graphqlWs`).
//
// State lives in the URL: `?countries=USA,CHN&metric=rd_intensity&asOf=2026-01-01T00:00:00Z`.

const ENDPOINT = "/graphql";
/** Most aliased fields per request (the server allows 50 aliases). */
const ALIASES_PER_REQUEST = 40;
const DEFAULT_COUNTRIES = ["USA", "CHN"];

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------
// The API

async function graphql(query, variables = {}) {
  const response = await fetch(ENDPOINT, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    throw new Error(body.errors.map((e) => e.message).join("; "));
  }
  return body.data;
}

/** Runs `fields` (each `alias: field(...) {...}`) in as few requests as the alias limit allows. */
async function aliased(fields, variableDefinitions, variables) {
  const chunks = [];
  for (let i = 0; i < fields.length; i += ALIASES_PER_REQUEST) {
    chunks.push(fields.slice(i, i + ALIASES_PER_REQUEST));
  }
  const defs = variableDefinitions ? `(${variableDefinitions})` : "";
  const answers = await Promise.all(
    chunks.map((chunk) => graphql(`query Page${defs} {\n${chunk.join("\n")}\n}`, variables)),
  );
  return Object.assign({}, ...answers);
}

const str = (value) => JSON.stringify(value);

// ---------------------------------------------------------------------------------------------
// Formatting for people

const SCALES = [
  [1e12, "T"],
  [1e9, "B"],
  [1e6, "M"],
  [1e3, "K"],
];

function scaled(value) {
  const magnitude = Math.abs(value);
  for (const [size, suffix] of SCALES) {
    if (magnitude >= size) {
      const n = value / size;
      return `${n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2)}${suffix}`;
    }
  }
  return Number.isInteger(value) ? String(value) : value.toFixed(2);
}

/** A value in the metric's unit, for people: `$1.23B`, `2.56%`, `1.60M`, `4,452 per million`. */
export function formatValue(value, unit) {
  if (value === null || value === undefined) return "—";
  switch (unit) {
    case "USD":
      return `${value < 0 ? "−" : ""}$${scaled(Math.abs(value))}`;
    case "PERCENT_OF_GDP":
      return `${value.toFixed(2)}% of GDP`;
    case "PERCENT":
      return `${value.toFixed(1)}%`;
    case "PER_MILLION_PEOPLE":
      return `${Math.round(value).toLocaleString("en-US")} per million`;
    default:
      return scaled(value);
  }
}

const formatRatio = (ratio) => (ratio === null || ratio === undefined ? "—" : `${ratio.toFixed(2)}×`);

function formatInstant(iso) {
  if (!iso) return "—";
  return new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace("Z", " UTC");
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// ---------------------------------------------------------------------------------------------
// The view's state, kept in the URL

const state = {
  countries: DEFAULT_COUNTRIES,
  metric: null,
  asOf: null,
  /** Every metric, country, source: from the first request. */
  metrics: [],
  allCountries: [],
  /** `metric/country` → the figure shown, to tell what a refetch revised. */
  shown: new Map(),
  /** `metric` → the source a chart is pinned to (absent: preferred). */
  chartSource: new Map(),
  charts: [],
  loads: 0,
};

function readUrl() {
  const params = new URLSearchParams(window.location.search);
  const countries = (params.get("countries") || "")
    .split(",")
    .map((c) => c.trim().toUpperCase())
    .filter(Boolean);
  state.countries = countries.length ? countries : DEFAULT_COUNTRIES;
  state.metric = params.get("metric") || null;
  const asOf = params.get("asOf");
  state.asOf = asOf && !Number.isNaN(Date.parse(asOf)) ? new Date(asOf).toISOString() : null;
}

function writeUrl() {
  const params = new URLSearchParams();
  params.set("countries", state.countries.join(","));
  if (state.metric) params.set("metric", state.metric);
  if (state.asOf) params.set("asOf", state.asOf);
  const url = `${window.location.pathname}?${params.toString().replaceAll("%2C", ",")}`;
  if (url !== `${window.location.pathname}${window.location.search}`) {
    window.history.pushState(null, "", url);
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

const CATALOGUE = `query Catalogue {
  countries { code name flag }
  metrics { slug name unit higherIsBetter category description sourcePreference sources { id name } }
}`;

const OBSERVATION = "year value qualifier qualifierCode citation recordedAt release source { id name }";

async function loadCatalogue() {
  const data = await graphql(CATALOGUE);
  state.metrics = data.metrics;
  state.allCountries = data.countries;
  const known = new Set(data.countries.map((c) => c.code));
  state.countries = state.countries.filter((c) => known.has(c));
  if (state.countries.length === 0) state.countries = DEFAULT_COUNTRIES.filter((c) => known.has(c));
  renderCountryPicker();
}

async function loadHeadline() {
  const fields = state.metrics.map(
    (m, i) => `m${i}: compare(metric: ${str(m.slug)}, countries: $countries, asOf: $asOf) {
      ratio sameYear leader { code name flag }
      entries { country { code name flag } value yearUsed observation { ${OBSERVATION} } }
    }`,
  );
  const data = await aliased(fields, "$countries: [String!]!, $asOf: DateTime", {
    countries: state.countries,
    asOf: state.asOf,
  });
  return state.metrics.map((metric, i) => ({ metric, comparison: data[`m${i}`] }));
}

async function loadSeries() {
  const fields = [];
  state.metrics.forEach((m, i) => {
    const source = state.chartSource.get(m.slug) ?? null;
    state.countries.forEach((country, j) => {
      fields.push(
        `s${i}_${j}: metric(slug: ${str(m.slug)}) { series(country: ${str(country)}, source: ${str(source)}, asOf: $asOf) { year value source { id } } }`,
      );
    });
  });
  const data = await aliased(fields, "$asOf: DateTime", { asOf: state.asOf });
  return state.metrics.map((metric, i) => ({
    metric,
    lines: state.countries.map((country, j) => ({ country, points: data[`s${i}_${j}`].series })),
  }));
}

// Sectors, companies and highlights are narrative, not versioned: they have no `asOf`.
const SECTORS = "query Sectors { sectors { slug name leader summary companies { name country { code flag } } } }";

async function loadSides() {
  const fields = state.countries.map(
    (code, i) => `c${i}: country(code: ${str(code)}) {
      code name flag
      companies { name founded headquarters ownership sectors { name } }
      highlights { topic title body }
    }`,
  );
  const [sides, countries] = await Promise.all([
    graphql(SECTORS),
    aliased(fields, "", {}),
  ]);
  return { ...sides, countries: state.countries.map((_, i) => countries[`c${i}`]) };
}

async function load({ live = false } = {}) {
  const load = ++state.loads;
  setStatus(live ? "Updating…" : "Loading…");
  try {
    const [headline, rest] = [loadHeadline(), Promise.all([loadSeries(), loadSides()])];
    rest.catch(() => {}); // reported below, once the headline is shown
    // The headline first, as soon as it arrives; then the charts and the narrative.
    const rows = await headline;
    if (load !== state.loads) return; // a newer load started meanwhile
    renderHeadline(rows, { live });
    if (load === 1) {
      requestAnimationFrame(() => performance.mark("techbalance:data-painted"));
    }
    const [series, sides] = await rest;
    if (load !== state.loads) return;
    renderCharts(series);
    renderSides(sides);
    setStatus(
      state.asOf
        ? `As known at ${formatInstant(state.asOf)}. Live updates are paused while looking back.`
        : `Live: figures update as refreshes record them. Last loaded ${formatInstant(new Date().toISOString())}.`,
    );
    document.body.dataset.loaded = String(load);
  } catch (error) {
    setStatus(`Could not load the figures: ${error.message}`, true);
  }
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

// ---------------------------------------------------------------------------------------------
// The headline table

function tooltip(id, metric, entry) {
  const o = entry.observation;
  return el(
    "span",
    { class: "tip", role: "tooltip", id },
    el("strong", { text: `${entry.country.name}, ${metric.name}` }),
    el("span", { text: `Year ${entry.yearUsed}` }),
    el("span", { text: `Source: ${o.source.name} (${o.source.id})` }),
    o.citation ? el("span", { text: `Citation: ${o.citation}` }) : null,
    el("span", { text: `Recorded ${formatInstant(o.recordedAt)}` }),
    o.release ? el("span", { text: `Release ${o.release}` }) : null,
    o.qualifier ? el("span", { text: `Qualifier: ${o.qualifier.toLowerCase().replaceAll("_", " ")}` }) : null,
  );
}

function figureCell(metric, entry, previous, live) {
  const key = `${metric.slug}/${entry.country.code}`;
  if (entry.value === null || entry.value === undefined || !entry.observation) {
    state.shown.set(key, null);
    return el(
      "td",
      { class: "gap", "data-metric": metric.slug, "data-country": entry.country.code },
      el("span", { class: "gap-mark", "aria-label": "no figure", text: "—" }),
    );
  }
  const tipId = `tip-${metric.slug}-${entry.country.code}`;
  const revised =
    live && previous !== undefined && previous !== null && previous.value !== entry.value
      ? previous
      : null;
  state.shown.set(key, { value: entry.value, year: entry.yearUsed, source: entry.observation.source.id });
  const button = el(
    "button",
    {
      type: "button",
      class: "fig",
      "aria-describedby": tipId,
      "data-metric": metric.slug,
      "data-country": entry.country.code,
      "data-value": entry.value,
      "data-year": entry.yearUsed,
      "data-source": entry.observation.source.id,
      onclick: () => showHistory(metric, entry),
    },
    el("span", { class: "value", text: formatValue(entry.value, metric.unit) }),
    el("span", { class: "year", text: ` ${entry.yearUsed}` }),
  );
  const cell = el(
    "td",
    { class: revised ? "figure revised" : "figure" },
    button,
    revised
      ? el("span", {
          class: "badge",
          text: `revised (was ${formatValue(revised.value, metric.unit)})`,
        })
      : null,
    tooltip(tipId, metric, entry),
  );
  return cell;
}

function renderHeadline(rows, { live }) {
  const table = $("figures");
  const head = el(
    "tr",
    {},
    el("th", { scope: "col", text: "Metric" }),
    state.countries.map((code) => {
      const country = state.allCountries.find((c) => c.code === code);
      return el("th", { scope: "col", text: country ? `${country.flag} ${country.name}` : code });
    }),
    el("th", { scope: "col", text: "Leader" }),
    el("th", { scope: "col", text: `Ratio (${state.countries.slice(0, 2).join(" ÷ ")})` }),
  );
  table.tHead.replaceChildren(head);
  const previous = new Map(state.shown);
  const body = rows.map(({ metric, comparison }) =>
    el(
      "tr",
      { "data-metric": metric.slug, class: metric.slug === state.metric ? "chosen" : null },
      el(
        "th",
        { scope: "row" },
        el("a", {
          href: `?${new URLSearchParams({ ...urlParams(), metric: metric.slug }).toString().replaceAll("%2C", ",")}#chart-${metric.slug}`,
          text: metric.name,
          title: metric.description,
          onclick: (event) => {
            event.preventDefault();
            chooseMetric(metric.slug);
          },
        }),
      ),
      comparison.entries.map((entry) =>
        figureCell(metric, entry, previous.get(`${metric.slug}/${entry.country.code}`), live),
      ),
      el(
        "td",
        { class: "leader", "data-leader": comparison.leader?.code ?? "" },
        comparison.leader ? `${comparison.leader.flag} ${comparison.leader.code}` : "—",
      ),
      el(
        "td",
        { class: "ratio", "data-ratio": comparison.ratio ?? "" },
        formatRatio(comparison.ratio),
      ),
    ),
  );
  table.tBodies[0].replaceChildren(...body);
}

function urlParams() {
  const params = { countries: state.countries.join(",") };
  if (state.asOf) params.asOf = state.asOf;
  return params;
}

async function showHistory(metric, entry) {
  const panel = $("history");
  panel.hidden = false;
  panel.replaceChildren(el("p", { text: "Loading the history…" }));
  try {
    const data = await graphql(
      `query History($metric: String!, $country: String!, $year: Int!, $source: String!, $asOf: DateTime) {
        observations(metric: $metric, countries: [$country], from: $year, to: $year, source: $source, asOf: $asOf) {
          history { value recordedAt supersededAt release qualifier run { id } }
        }
      }`,
      {
        metric: metric.slug,
        country: entry.country.code,
        year: entry.yearUsed,
        source: entry.observation.source.id,
        asOf: state.asOf,
      },
    );
    const versions = data.observations[0]?.history ?? [];
    panel.replaceChildren(
      el("h3", {
        text: `History: ${metric.name}, ${entry.country.name}, ${entry.yearUsed} (${entry.observation.source.id})`,
      }),
      el(
        "table",
        { class: "history-table" },
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ["Value", "Recorded", "Replaced", "Release", "Run"].map((h) => el("th", { scope: "col", text: h })),
          ),
        ),
        el(
          "tbody",
          {},
          versions.map((v) =>
            el(
              "tr",
              {},
              el("td", { "data-value": v.value ?? "", text: v.value === null ? "withdrawn" : formatValue(v.value, metric.unit) }),
              el("td", { text: formatInstant(v.recordedAt) }),
              el("td", { text: v.supersededAt ? formatInstant(v.supersededAt) : "current" }),
              el("td", { text: v.release ?? "—" }),
              el("td", { text: v.run ? `#${v.run.id}` : "—" }),
            ),
          ),
        ),
      ),
      el("button", { type: "button", text: "Close history", onclick: () => (panel.hidden = true) }),
    );
    panel.querySelector("button")?.focus();
  } catch (error) {
    panel.replaceChildren(el("p", { class: "error", text: `Could not load the history: ${error.message}` }));
  }
}

// ---------------------------------------------------------------------------------------------
// Charts (uPlot)

const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#be185d", "#4d7c0f"];

function renderCharts(series) {
  for (const chart of state.charts) chart.destroy();
  state.charts = [];
  const holder = $("charts");
  const figures = [];
  for (const { metric, lines } of series) {
    if (lines.every((line) => line.points.length === 0) && !state.chartSource.has(metric.slug)) continue;
    const years = [...new Set(lines.flatMap((l) => l.points.map((p) => p.year)))].sort((a, b) => a - b);
    const data = [
      years,
      ...lines.map((line) => {
        const byYear = new Map(line.points.map((p) => [p.year, p.value]));
        return years.map((y) => (byYear.has(y) ? byYear.get(y) : null));
      }),
    ];
    const select = el(
      "select",
      {
        "aria-label": `Source of ${metric.name}`,
        onchange: (event) => {
          if (event.target.value) state.chartSource.set(metric.slug, event.target.value);
          else state.chartSource.delete(metric.slug);
          load();
        },
      },
      el("option", { value: "", text: "Preferred source" }),
      metric.sources.map((s) =>
        el("option", { value: s.id, text: s.name, selected: state.chartSource.get(metric.slug) === s.id }),
      ),
    );
    const plot = el("div", { class: "plot", role: "img", "aria-label": `${metric.name} by year, one line per country` });
    const figure = el(
      "figure",
      {
        class: metric.slug === state.metric ? "chart chosen" : "chart",
        id: `chart-${metric.slug}`,
        "data-metric": metric.slug,
        // What the chart plots, per country: `USA:2020=3.42;2021=3.46 CHN:…` (years with a value).
        "data-points": lines
          .map((l) => `${l.country}:${l.points.filter((p) => p.value !== null).map((p) => `${p.year}=${p.value}`).join(";")}`)
          .join(" "),
      },
      el("figcaption", {}, el("span", { text: metric.name }), el("label", {}, "Source ", select)),
      plot,
    );
    figures.push(figure);
    figure.plotData = { metric, lines, data, plot };
  }
  holder.replaceChildren(...figures);
  for (const figure of figures) {
    const { metric, lines, data, plot } = figure.plotData;
    if (data[0].length === 0) {
      plot.replaceChildren(el("p", { class: "gap", text: "No values from this source." }));
      continue;
    }
    const chart = new uPlot(
      {
        width: Math.max(260, plot.clientWidth || 320),
        height: 200,
        // Years on x, a year either side so that a single year is not a lone point at an edge.
        scales: { x: { time: false, auto: false, range: [data[0][0] - 1, data[0][data[0].length - 1] + 1] } },
        axes: [
          {
            stroke: "currentColor",
            grid: { stroke: "rgba(128,128,128,0.2)" },
            incrs: [1, 2, 5, 10, 20],
            values: (_, ticks) => ticks.map((year) => (Number.isInteger(year) ? String(year) : "")),
          },
          {
            stroke: "currentColor",
            grid: { stroke: "rgba(128,128,128,0.2)" },
            size: 70,
            values: (_, ticks) => ticks.map((v) => formatValue(v, metric.unit).replace(" of GDP", "").replace(" per million", "")),
          },
        ],
        series: [
          { label: "Year" },
          ...lines.map((line, i) => ({
            label: line.country,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            spanGaps: false,
            points: { show: true, size: 5 },
            value: (_, v) => formatValue(v, metric.unit),
          })),
        ],
      },
      data,
      plot,
    );
    state.charts.push(chart);
  }
}

window.addEventListener("resize", () => {
  for (const chart of state.charts) {
    const width = chart.root.parentElement?.clientWidth;
    if (width) chart.setSize({ width: Math.max(260, width), height: 200 });
  }
});

// ---------------------------------------------------------------------------------------------
// Sectors, companies, highlights

const LEADERS = { US: "🇺🇸 United States", CHINA: "🇨🇳 China", CONTESTED: "Contested", US_AND_ALLIES: "United States and allies" };

function renderSides({ sectors, countries }) {
  $("sectors-body").replaceChildren(
    ...sectors.map((s) =>
      el(
        "tr",
        { "data-sector": s.slug },
        el("th", { scope: "row", text: s.name }),
        el("td", { class: `leader-${s.leader.toLowerCase()}`, text: LEADERS[s.leader] ?? s.leader }),
        el("td", { text: s.summary }),
        el("td", { text: s.companies.map((c) => `${c.country.flag} ${c.name}`).join(", ") || "—" }),
      ),
    ),
  );
  $("sides-body").replaceChildren(
    ...countries.map((country) =>
      el(
        "article",
        { class: "side", "data-country": country.code },
        el("h3", { text: `${country.flag} ${country.name}` }),
        el("h4", { text: "Tech giants" }),
        country.companies.length
          ? el(
              "ul",
              { class: "companies" },
              country.companies.map((c) =>
                el(
                  "li",
                  {},
                  el("strong", { text: c.name }),
                  ` — ${c.sectors.map((s) => s.name).join(", ") || "no sector listed"}`,
                  c.founded ? `, founded ${c.founded}` : "",
                  c.headquarters ? `, ${c.headquarters}` : "",
                  c.ownership === "STATE_SUPERVISED" ? " (state-supervised)" : "",
                ),
              ),
            )
          : el("p", { class: "gap", text: "No companies listed." }),
        el("h4", { text: "Highlights" }),
        country.highlights.length
          ? el(
              "ul",
              { class: "highlights" },
              country.highlights.map((h) => el("li", {}, el("strong", { text: h.title }), ` ${h.body}`)),
            )
          : el("p", { class: "gap", text: "No highlights." }),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Controls

function renderCountryPicker() {
  const select = $("countries");
  select.replaceChildren(
    ...state.allCountries.map((c) =>
      el("option", { value: c.code, selected: state.countries.includes(c.code), text: `${c.flag} ${c.name} (${c.code})` }),
    ),
  );
}

function chooseMetric(slug) {
  state.metric = slug;
  writeUrl();
  for (const row of document.querySelectorAll("#figures tr[data-metric]")) {
    row.classList.toggle("chosen", row.dataset.metric === slug);
  }
  for (const chart of document.querySelectorAll("figure.chart")) {
    chart.classList.toggle("chosen", chart.dataset.metric === slug);
  }
  $(`chart-${slug}`)?.scrollIntoView({ block: "nearest" });
}

function toLocalInput(iso) {
  // The control shows UTC: an ISO instant without its zone.
  return iso ? iso.replace(/\.\d+Z$/, "").replace("Z", "") : "";
}

function setupControls() {
  $("countries").addEventListener("change", (event) => {
    const picked = [...event.target.selectedOptions].map((o) => o.value);
    if (picked.length < 2) {
      // A comparison needs two sides: keep the view, say why.
      renderCountryPicker();
      setStatus("Pick at least two countries to compare.", true);
      return;
    }
    state.countries = picked;
    state.shown.clear();
    writeUrl();
    load();
  });
  $("as-of").value = toLocalInput(state.asOf);
  $("as-of").addEventListener("change", (event) => {
    const value = event.target.value;
    state.asOf = value ? new Date(`${value}Z`).toISOString() : null;
    state.shown.clear();
    writeUrl();
    load();
  });
  $("now").addEventListener("click", () => {
    state.asOf = null;
    $("as-of").value = "";
    state.shown.clear();
    writeUrl();
    load();
  });
  window.addEventListener("popstate", () => {
    readUrl();
    $("as-of").value = toLocalInput(state.asOf);
    renderCountryPicker();
    state.shown.clear();
    load();
  });
  const theme = $("theme");
  const apply = (dark) => {
    document.documentElement.dataset.theme = dark ? "dark" : "light";
    theme.setAttribute("aria-pressed", String(dark));
    theme.textContent = dark ? "Light theme" : "Dark theme";
  };
  const stored = localStorage.getItem("techbalance-theme");
  apply(stored ? stored === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches);
  theme.addEventListener("click", () => {
    const dark = document.documentElement.dataset.theme !== "dark";
    localStorage.setItem("techbalance-theme", dark ? "dark" : "light");
    apply(dark);
  });
}

// ---------------------------------------------------------------------------------------------
// Live: one WebSocket, two subscriptions (figures changed; refresh progress)

function goLive() {
  const url = new URL(ENDPOINT, window.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const client = graphqlWs.createClient({ url: url.href, retryAttempts: Infinity });
  let pending = null;
  client.on("connected", (_socket, _payload, wasRetry) => {
    // Back after a lost connection: changes may have been missed meanwhile.
    if (wasRetry && !state.asOf) load({ live: true });
  });
  client.subscribe(
    { query: "subscription PageData { dataChanged { version metrics resync } }" },
    {
      next: () => {
        if (state.asOf) return; // looking back: the past does not change
        clearTimeout(pending);
        pending = setTimeout(() => load({ live: true }), 150);
      },
      error: (error) => setStatus(`Live updates stopped: ${error.message ?? error}`, true),
      complete: () => {},
    },
  );
  const progress = $("progress");
  client.subscribe(
    {
      query:
        "subscription PageRuns { refreshRunUpdated { id status pagesFetched fetched inserted revised withdrawn error source { id name } } }",
    },
    {
      next: ({ data }) => {
        const run = data?.refreshRunUpdated;
        if (!run) return;
        progress.hidden = false;
        progress.dataset.status = run.status;
        const counts = `${run.pagesFetched} pages, ${run.fetched} figures fetched, ${run.inserted} new, ${run.revised} revised, ${run.withdrawn} withdrawn`;
        progress.textContent =
          run.status === "RUNNING" || run.status === "QUEUED"
            ? `Refreshing ${run.source.name} (run #${run.id}, ${run.status.toLowerCase()}): ${counts}`
            : `Refresh of ${run.source.name} (run #${run.id}) ${run.status.toLowerCase()}: ${counts}${run.error ? ` — ${run.error}` : ""}`;
      },
      error: () => {},
      complete: () => {},
    },
  );
}

// ---------------------------------------------------------------------------------------------

async function start() {
  readUrl();
  setupControls();
  try {
    await loadCatalogue();
  } catch (error) {
    setStatus(`Could not reach the API: ${error.message}`, true);
    return;
  }
  writeUrl();
  // Subscribed before the first load, so that no change between the two is missed.
  goLive();
  await load();
}

start();
