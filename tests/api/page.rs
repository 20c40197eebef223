//! The browser face of the service, tested in headless Chromium (see `browser`): GraphiQL served
//! by the binary (offline: every request to another origin is blocked and counted), and the
//! balance page at `/`, compared with what the GraphQL API answers. Also the assets' HTTP
//! caching and compression, over plain HTTP.

use crate::both_backends;
use crate::browser::Browser;
use crate::fake_worldbank::{FakeWorldBank, Vintage};
use crate::support::{Backend, TestApp};
use reqwest::header;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const RD: &str = "GB.XPD.RSDV.GD.ZS";

both_backends!(
    assets_are_immutable_at_hashed_urls_with_etags_and_compression,
    graphiql_runs_the_readmes_first_query_and_an_operators_mutation_offline,
    a_subscription_in_graphiql_receives_a_revision_a_refresh_records,
    the_page_shows_every_figure_the_api_returns,
    a_refresh_revises_a_figure_in_place_and_as_of_shows_the_earlier_value,
);

/// The first `graphql` code block of the README.
fn readme_first_query() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("```graphql\n").expect("a graphql block") + "```graphql\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    readme[start..end].trim().to_string()
}

/// The URLs of the assets a page names.
fn asset_urls(html: &str) -> Vec<String> {
    html.split('"')
        .filter(|part| part.starts_with("/assets/"))
        .map(str::to_string)
        .collect()
}

async fn assets_are_immutable_at_hashed_urls_with_etags_and_compression(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let client = app.client();
    let page = client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-cache");
    assert!(page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap_or_default()
        .contains("connect-src 'self'"));
    let html = page.text().await.expect("the page");
    let graphiql = client
        .get(app.url("/graphql"))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .expect("GET /graphql")
        .text()
        .await
        .expect("GraphiQL's page");
    let urls: Vec<String> = asset_urls(&html)
        .into_iter()
        .chain(asset_urls(&graphiql))
        .collect();
    assert!(urls.len() >= 8, "{urls:?}");
    assert!(
        !graphiql.contains("unpkg") && !graphiql.contains("cdn") && !html.contains("https://"),
        "a page names another origin"
    );
    for url in &urls {
        let plain = client.get(app.url(url)).send().await.expect("asset");
        assert_eq!(plain.status(), 200, "{url}");
        let headers = plain.headers().clone();
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let etag = headers[header::ETAG].to_str().expect("etag").to_string();
        let hash = url.split('/').nth(2).expect("a hash in the URL");
        assert_eq!(etag, format!("\"{hash}\""), "the ETag is the URL's hash");
        let body = plain.bytes().await.expect("body");
        let again = client
            .get(app.url(url))
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .expect("revalidation");
        assert_eq!(again.status(), 304, "{url}");
        for encoding in ["br", "gzip"] {
            let compressed = client
                .get(app.url(url))
                .header(header::ACCEPT_ENCODING, encoding)
                .send()
                .await
                .expect("compressed asset");
            assert_eq!(
                compressed.headers()[header::CONTENT_ENCODING],
                encoding,
                "{url}"
            );
            let size = compressed.bytes().await.expect("body").len();
            assert!(
                size < body.len(),
                "{url}: {encoding} {size} ≥ {}",
                body.len()
            );
        }
    }
    let wrong_hash = urls[0].replacen("/assets/", "/assets/0", 1);
    let missing = client.get(app.url(&wrong_hash)).send().await.expect("GET");
    assert_eq!(missing.status(), 404);
}

/// GraphiQL's query editor and result pane (CodeMirror 5 in GraphiQL 3).
const QUERY_EDITOR: &str =
    "document.querySelector('.graphiql-query-editor .CodeMirror')?.CodeMirror?.getValue()";
/// The headers editor, once its tab is open.
const HEADERS_EDITOR: &str =
    "document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror')?.CodeMirror";
const RESULT: &str =
    "document.querySelector('.graphiql-response .CodeMirror')?.CodeMirror?.getValue()";

async fn graphiql_runs_the_readmes_first_query_and_an_operators_mutation_offline(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let query = readme_first_query();
    let mut browser = Browser::launch(app.addr).await;
    browser.goto("/graphql").await;
    let editor = browser.wait_for(QUERY_EDITOR, 30).await;
    let uncommented: Vec<&str> = editor
        .as_str()
        .expect("the editor's text")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();
    assert_eq!(
        uncommented.join("\n").trim(),
        query,
        "GraphiQL opens with the README's first query"
    );
    browser.click(".graphiql-execute-button").await;
    let shown = browser
        .wait_for(
            &format!("(({RESULT}) || '').includes('\"data\"') && {RESULT}"),
            30,
        )
        .await;
    let shown: Value = serde_json::from_str(shown.as_str().expect("text")).expect("JSON result");
    let answer = app.post(&query, json!({})).await;
    assert_eq!(shown, answer, "GraphiQL shows the API's answer");
    assert!(shown["data"]["compare"]["entries"][0]["value"].is_number());
    browser
        .screenshot(&format!("graphiql-{backend:?}.png"), false)
        .await;

    // An operator sets the Authorization header in the Headers tab and runs a mutation.
    let token = app.token("graphiql-operator").await;
    let mutation = "mutation { triggerRefresh(source: \"baseline\") { source { id } status } }";
    browser
        .goto(&format!("/graphql#query={}", url_encode(mutation)))
        .await;
    browser
        .wait_for(
            &format!("({QUERY_EDITOR} || '').startsWith('mutation')"),
            30,
        )
        .await;
    browser.click("button:has-text('Headers')").await;
    browser.wait_for(&format!("!!{HEADERS_EDITOR}"), 30).await;
    let headers = json!({ "Authorization": format!("Bearer {token}") }).to_string();
    browser
        .eval(&format!("{HEADERS_EDITOR}.setValue({})", json!(headers)))
        .await;
    browser.click(".graphiql-execute-button").await;
    let shown = browser
        .wait_for(
            &format!("(({RESULT}) || '').includes('triggerRefresh') && {RESULT}"),
            30,
        )
        .await;
    let shown: Value = serde_json::from_str(shown.as_str().expect("text")).expect("JSON result");
    assert_eq!(
        shown["data"]["triggerRefresh"]["source"]["id"],
        json!("baseline"),
        "{shown}"
    );
    browser.finish().await;
}

/// A World Bank R&D intensity for 2024 (preferred over the baseline's value of that year).
fn vintage(usa: f64) -> Vintage {
    Vintage::new("2026-01-01")
        .with(RD, "USA", 2024, Some(usa))
        .with(RD, "CHN", 2024, Some(2.68))
}

/// Records a World Bank refresh against `fake` in another process (`techbalance refresh`), whose
/// changes reach this server through NOTIFY on PostgreSQL and the change notices on SQLite.
async fn refresh(app: &TestApp, fake: &FakeWorldBank) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_techbalance"))
        .args(["refresh", "worldbank"])
        .env("DATABASE_URL", &app.db.url)
        .env("TECHBALANCE_WORLDBANK_URL", fake.url())
        .env("TECHBALANCE_LOG", "warn")
        .output()
        .await
        .expect("run techbalance refresh");
    assert!(
        output.status.success(),
        "refresh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn a_subscription_in_graphiql_receives_a_revision_a_refresh_records(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(vintage(3.45)).await;
    refresh(&app, &fake).await;
    let subscription = "subscription { observationRevised(metric: \"rd_intensity\") { kind year previousValue value country { code } source { id } } }";
    let mut browser = Browser::launch(app.addr).await;
    let fragment: String = url_encode(subscription);
    browser.goto(&format!("/graphql#query={fragment}")).await;
    browser
        .wait_for(
            &format!("({QUERY_EDITOR} || '').startsWith('subscription')"),
            30,
        )
        .await;
    browser.click(".graphiql-execute-button").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.live.open_subscriptions() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "GraphiQL's subscription did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    fake.publish(vintage(3.61));
    refresh(&app, &fake).await;
    let shown = browser
        .wait_for(
            &format!("(({RESULT}) || '').includes('3.61') && {RESULT}"),
            30,
        )
        .await;
    let shown: Value = serde_json::from_str(shown.as_str().expect("text")).expect("JSON result");
    assert_eq!(
        shown["data"]["observationRevised"],
        json!({ "kind": "REVISED", "year": 2024, "previousValue": 3.45, "value": 3.61,
                "country": { "code": "USA" }, "source": { "id": "worldbank" } })
    );
    browser
        .screenshot(&format!("graphiql-subscription-{backend:?}.png"), false)
        .await;
    browser.finish().await;
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A figure as the page shows it, or as the API answers: (value, year, source), or None for a
/// gap; by (metric, country). Values are compared to 12 significant digits: serde_json's float
/// parsing and the browser's may differ in the last bit.
type Figures = BTreeMap<(String, String), Option<(String, i64, String)>>;

fn digits(value: f64) -> String {
    format!("{value:.11e}")
}

const DOM_FIGURES: &str = "[...document.querySelectorAll('#figures tbody td')]
    .filter(td => td.classList.contains('gap') || td.querySelector('button.fig'))
    .map(td => { const b = td.querySelector('button.fig');
                 return b ? [b.dataset.metric, b.dataset.country, Number(b.dataset.value), Number(b.dataset.year), b.dataset.source, b.textContent]
                          : [td.dataset.metric, td.dataset.country, null, null, null, td.textContent]; })";

fn dom_figures(list: &Value) -> Figures {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|f| {
            let key = (
                f[0].as_str().unwrap_or_default().to_string(),
                f[1].as_str().unwrap_or_default().to_string(),
            );
            let text = f[5].as_str().unwrap_or_default();
            let figure = f[2].as_f64().map(|value| {
                let year = f[3].as_i64().unwrap_or_default();
                assert!(
                    text.contains(&year.to_string()),
                    "{key:?} shows its year: {text}"
                );
                (
                    digits(value),
                    year,
                    f[4].as_str().unwrap_or_default().to_string(),
                )
            });
            if figure.is_none() {
                assert_eq!(text, "—", "{key:?}: a gap is shown as a gap");
            }
            (key, figure)
        })
        .collect()
}

/// Every metric compared for `countries`, as the API answers, and who leads with what ratio.
async fn api_headline(
    app: &TestApp,
    countries: &[&str],
    as_of: Option<&str>,
) -> (Figures, BTreeMap<String, (String, Option<String>)>) {
    let slugs = app.data("{ metrics { slug } }").await["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| m["slug"].as_str().expect("slug").to_string())
        .collect::<Vec<_>>();
    let mut figures = Figures::new();
    let mut leaders = BTreeMap::new();
    for slug in slugs {
        let body = app
            .post(
                "query($m: String!, $c: [String!]!, $asOf: DateTime) { compare(metric: $m, countries: $c, asOf: $asOf) {
                    ratio leader { code } entries { country { code } value yearUsed observation { source { id } } } } }",
                json!({ "m": slug, "c": countries, "asOf": as_of }),
            )
            .await;
        let compare = &body["data"]["compare"];
        for entry in compare["entries"].as_array().expect("entries") {
            let code = entry["country"]["code"].as_str().expect("code").to_string();
            let figure = entry["value"].as_f64().map(|value| {
                (
                    digits(value),
                    entry["yearUsed"].as_i64().expect("year"),
                    entry["observation"]["source"]["id"]
                        .as_str()
                        .expect("source")
                        .to_string(),
                )
            });
            figures.insert((slug.clone(), code), figure);
        }
        let leader = compare["leader"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        leaders.insert(slug, (leader, compare["ratio"].as_f64().map(digits)));
    }
    (figures, leaders)
}

const DOM_LEADERS: &str = "[...document.querySelectorAll('#figures tbody tr[data-metric]')]
    .map(tr => [tr.dataset.metric, tr.querySelector('td.leader').dataset.leader,
                tr.querySelector('td.ratio').dataset.ratio])";

fn dom_leaders(list: &Value) -> BTreeMap<String, (String, Option<String>)> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|row| {
            let ratio = row[2]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(|r| digits(r.parse().expect("a number")));
            (
                row[0].as_str().unwrap_or_default().to_string(),
                (row[1].as_str().unwrap_or_default().to_string(), ratio),
            )
        })
        .collect()
}

/// Waits until the page has loaded its figures `n` times.
async fn loaded(browser: &mut Browser, n: u32) {
    browser
        .wait_for(&format!("Number(document.body.dataset.loaded) >= {n}"), 30)
        .await;
}

async fn the_page_shows_every_figure_the_api_returns(backend: Backend) {
    // The seeded data and one more country (QAA), to pick.
    let baseline = std::env::temp_dir().join(format!(
        "techbalance-page-{}-{backend:?}.toml",
        std::process::id()
    ));
    std::fs::write(&baseline, baseline_with_countries(1)).expect("write baseline");
    let path = baseline.to_string_lossy().into_owned();
    let app = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_BASELINE", path.as_str())])
        .start()
        .await;
    let _ = std::fs::remove_file(&baseline);
    let mut browser = Browser::launch(app.addr).await;
    browser.goto("/").await;
    loaded(&mut browser, 1).await;

    // The headline: every metric, both countries, as the API answers (gaps included).
    let (figures, leaders) = api_headline(&app, &["USA", "CHN"], None).await;
    assert!(
        figures.values().any(Option::is_none),
        "the seeded data has gaps"
    );
    assert_eq!(dom_figures(&browser.eval(DOM_FIGURES).await), figures);
    assert_eq!(dom_leaders(&browser.eval(DOM_LEADERS).await), leaders);

    // The URL carries the view.
    let search = browser.eval("location.search").await;
    assert_eq!(search, json!("?countries=USA,CHN"));
    browser
        .click("#figures tr[data-metric='rd_intensity'] th a")
        .await;
    assert_eq!(
        browser.eval("location.search").await,
        json!("?countries=USA,CHN&metric=rd_intensity")
    );

    // A chart for every metric with a series, plotting the API's series.
    let metrics = app
        .data("{ metrics { slug usa: series(country: \"USA\") { year value } chn: series(country: \"CHN\") { year value } } }")
        .await;
    let mut expected_charts = BTreeMap::new();
    for metric in metrics["metrics"].as_array().expect("metrics") {
        let (usa, chn) = (chart_points(&metric["usa"]), chart_points(&metric["chn"]));
        if !usa.is_empty() || !chn.is_empty() {
            let slug = metric["slug"].as_str().expect("slug").to_string();
            expected_charts.insert(slug, format!("USA:{usa} CHN:{chn}"));
        }
    }
    let charts: BTreeMap<String, String> = serde_json::from_value(
        browser
            .eval("Object.fromEntries([...document.querySelectorAll('figure.chart')].map(f => [f.dataset.metric, f.dataset.points]))")
            .await,
    )
    .expect("charts");
    assert_eq!(charts, expected_charts);
    assert_eq!(
        browser
            .eval("document.querySelectorAll('figure.chart canvas').length")
            .await,
        json!(expected_charts.len()),
        "uPlot drew every chart"
    );

    // A chart's source can be switched: it then plots that source's series.
    let pinned = app
        .data("{ metric(slug: \"rd_intensity\") { usa: series(country: \"USA\", source: \"baseline\") { year value } chn: series(country: \"CHN\", source: \"baseline\") { year value } } }")
        .await;
    let expected = format!(
        "USA:{} CHN:{}",
        chart_points(&pinned["metric"]["usa"]),
        chart_points(&pinned["metric"]["chn"])
    );
    browser
        .eval(
            "(() => { const s = document.querySelector('#chart-rd_intensity select');
                 s.value = 'baseline'; s.dispatchEvent(new Event('change')); })()",
        )
        .await;
    let shown = browser
        .wait_for(
            &format!("document.querySelector('#chart-rd_intensity')?.dataset.points === {} && document.querySelector('#chart-rd_intensity').dataset.points", json!(expected)),
            30,
        )
        .await;
    assert_eq!(shown, json!(expected));

    // Sectors with their leaders; the companies and highlights of each side.
    let narrative = app
        .data("{ sectors { slug leader } usa: country(code: \"USA\") { companies { name } highlights { title } }
                 chn: country(code: \"CHN\") { companies { name } highlights { title } } }")
        .await;
    let sectors: Vec<String> = narrative["sectors"]
        .as_array()
        .expect("sectors")
        .iter()
        .map(|s| s["slug"].as_str().expect("slug").to_string())
        .collect();
    assert_eq!(
        browser
            .eval("[...document.querySelectorAll('#sectors-body tr')].map(tr => tr.dataset.sector)")
            .await,
        json!(sectors)
    );
    for (code, side) in [("USA", "usa"), ("CHN", "chn")] {
        let names = |list: &str, field: &str| {
            narrative[side][list]
                .as_array()
                .expect("list")
                .iter()
                .map(|c| c[field].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            browser
                .eval(&format!("[...document.querySelectorAll('.side[data-country={code}] .companies li strong')].map(s => s.textContent)"))
                .await,
            json!(names("companies", "name"))
        );
        assert_eq!(
            browser
                .eval(&format!("[...document.querySelectorAll('.side[data-country={code}] .highlights li strong')].map(s => s.textContent)"))
                .await,
            json!(names("highlights", "title"))
        );
    }

    // Source, citation and recorded time on keyboard focus (the same rule shows them on hover).
    let tip = browser
        .eval(
            "(() => { const b = document.querySelector('button.fig'); b.focus();
                 const tip = document.getElementById(b.getAttribute('aria-describedby'));
                 return getComputedStyle(tip).display !== 'none' && tip.textContent; })()",
        )
        .await;
    let tip = tip.as_str().expect("a visible tooltip on focus");
    for part in ["Source:", "Citation:", "Recorded"] {
        assert!(tip.contains(part), "{tip}");
    }
    // And on hover, once focus has gone.
    const PATENTS_CHN: &str =
        "#figures button.fig[data-metric='patent_applications'][data-country='CHN']";
    browser.eval("document.activeElement.blur()").await;
    browser.hover(PATENTS_CHN).await;
    let hovered = browser
        .eval(&format!(
            "(() => {{ const b = document.querySelector(\"{PATENTS_CHN}\");
                 const tip = document.getElementById(b.getAttribute('aria-describedby'));
                 return getComputedStyle(tip).display !== 'none' && tip.textContent; }})()"
        ))
        .await;
    assert!(
        hovered
            .as_str()
            .is_some_and(|t| t.contains("Source:") && t.contains("China")),
        "{hovered}"
    );
    browser
        .screenshot(&format!("page-{backend:?}.png"), true)
        .await;

    // Any stored country can be picked (two at least): the table and the URL follow.
    let pick = |codes: &[&str]| {
        format!(
            "(() => {{ const s = document.getElementById('countries');
                 for (const o of s.options) o.selected = {}.includes(o.value);
                 s.dispatchEvent(new Event('change')); }})()",
            json!(codes)
        )
    };
    browser.eval(&pick(&["USA"])).await;
    assert_eq!(
        browser
            .eval("document.getElementById('status').textContent")
            .await,
        json!("Pick at least two countries to compare.")
    );
    browser.eval(&pick(&["USA", "QAA"])).await;
    loaded(&mut browser, 3).await;
    // In the picker's order (by name).
    assert_eq!(
        browser.eval("location.search").await,
        json!("?countries=QAA,USA&metric=rd_intensity")
    );
    let (picked, _) = api_headline(&app, &["QAA", "USA"], None).await;
    assert_eq!(dom_figures(&browser.eval(DOM_FIGURES).await), picked);

    // Dark theme, then phone width without horizontal scrolling of the page.
    browser.click("#theme").await;
    assert_eq!(
        browser.eval("document.documentElement.dataset.theme").await,
        json!("dark")
    );
    browser.viewport(390, 844).await;
    assert_eq!(
        browser
            .eval("document.documentElement.scrollWidth <= window.innerWidth")
            .await,
        json!(true),
        "the page fits a phone's width"
    );
    browser
        .screenshot(&format!("page-phone-dark-{backend:?}.png"), false)
        .await;
    browser.finish().await;
}

const RD_USA: &str =
    "document.querySelector(\"button.fig[data-metric='rd_intensity'][data-country='USA']\")";

async fn a_refresh_revises_a_figure_in_place_and_as_of_shows_the_earlier_value(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let fake = FakeWorldBank::start(vintage(3.45)).await;
    refresh(&app, &fake).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let mut browser = Browser::launch(app.addr).await;
    browser.goto("/").await;
    loaded(&mut browser, 1).await;
    assert_eq!(
        browser.eval(&format!("{RD_USA}.dataset.value")).await,
        json!("3.45")
    );
    // The page's two subscriptions: figures changed, refresh progress.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.live.open_subscriptions() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the page did not subscribe"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    fake.publish(vintage(3.61));
    refresh(&app, &fake).await;
    browser
        .wait_for(&format!("{RD_USA}.dataset.value === '3.61'"), 30)
        .await;
    assert_eq!(
        browser
            .eval(&format!("{RD_USA}.closest('td').classList.contains('revised') && {RD_USA}.closest('td').textContent"))
            .await
            .as_str()
            .map(|text| text.contains("revised")),
        Some(true),
        "the revised figure is marked"
    );
    // Only that figure was revised.
    assert_eq!(
        browser
            .eval("document.querySelectorAll('td.revised').length")
            .await,
        json!(1)
    );
    // The refresh's progress was shown.
    browser
        .wait_for(
            "document.getElementById('progress').dataset.status === 'SUCCEEDED'",
            30,
        )
        .await;
    // The page agrees with the API now.
    let (figures, _) = api_headline(&app, &["USA", "CHN"], None).await;
    assert_eq!(dom_figures(&browser.eval(DOM_FIGURES).await), figures);
    browser
        .screenshot(&format!("page-revised-{backend:?}.png"), false)
        .await;

    // Its history: both versions, oldest first.
    browser
        .click("button.fig[data-metric='rd_intensity'][data-country='USA']")
        .await;
    let history = browser
        .wait_for("document.querySelectorAll('.history-table td[data-value]').length === 2 && [...document.querySelectorAll('.history-table td[data-value]')].map(td => td.dataset.value)", 30)
        .await;
    assert_eq!(history, json!(["3.45", "3.61"]));

    // As of an instant between the two refreshes: the earlier value, as the API answers.
    browser
        .goto(&format!("/?countries=USA,CHN&asOf={between}"))
        .await;
    loaded(&mut browser, 1).await;
    assert_eq!(
        browser.eval(&format!("{RD_USA}.dataset.value")).await,
        json!("3.45")
    );
    let (then, _) = api_headline(&app, &["USA", "CHN"], Some(&between)).await;
    assert_eq!(dom_figures(&browser.eval(DOM_FIGURES).await), then);
    assert_eq!(
        browser
            .eval("document.querySelectorAll('td.revised').length")
            .await,
        json!(0)
    );
    // The control shows the instant (UTC, to the second).
    assert_eq!(
        browser.eval("document.getElementById('as-of').value").await,
        json!(between[..19])
    );
    // Back to now: the current value, and the URL drops asOf.
    browser.click("#now").await;
    browser
        .wait_for(&format!("{RD_USA}?.dataset.value === '3.61'"), 30)
        .await;
    assert_eq!(
        browser.eval("location.search").await,
        json!("?countries=USA,CHN")
    );
    browser.finish().await;
}

both_backends!(the_pages_speed_and_size_are_measured);

/// The bundled baseline with `extra` more countries, each with five years of every metric.
fn baseline_with_countries(extra: usize) -> String {
    let mut toml =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/baseline.toml"))
            .expect("the baseline");
    let metrics: Vec<String> = toml
        .split("[[metrics]]")
        .skip(1)
        .filter_map(|entry| entry.lines().find_map(|l| l.strip_prefix("slug = ")))
        .map(|slug| slug.trim_matches('"').to_string())
        .collect();
    let letters = |n: usize| {
        let a = (b'A' + (n / 26) as u8) as char;
        let b = (b'A' + (n % 26) as u8) as char;
        format!("{a}{b}")
    };
    let iso2s = (0..26 * 26).map(letters).filter(|c| c != "US" && c != "CN");
    for (i, iso2) in iso2s.take(extra).enumerate() {
        let code = format!("Q{}", letters(i));
        toml.push_str(&format!(
            "\n[[countries]]\ncode = \"{code}\"\niso2 = \"{iso2}\"\nname = \"Country {code}\"\nflag = \"🏳\"\n"
        ));
        for (m, metric) in metrics.iter().enumerate() {
            for year in 2019..2024 {
                let value = 1.0 + ((i * 31 + m * 7 + year as usize) % 97) as f64 * 1.5;
                toml.push_str(&format!(
                    "\n[[observations]]\nmetric = \"{metric}\"\ncountry = \"{code}\"\nyear = {year}\nvalue = {value}\nyear_basis = \"stated\"\n"
                ));
            }
        }
    }
    toml
}

/// Loads `path` in a fresh browser (no cache) and reads the Performance API: when the figures
/// were first painted, and what crossed the network (compressed).
async fn measure(app: &TestApp, path: &str) -> Value {
    let mut browser = Browser::launch(app.addr).await;
    browser.goto(path).await;
    loaded(&mut browser, 1).await;
    let figures = browser
        .wait_for(
            "(() => {
                const mark = performance.getEntriesByName('techbalance:data-painted')[0];
                if (!mark) return null;
                const nav = performance.getEntriesByType('navigation')[0];
                const resources = performance.getEntriesByType('resource');
                const sum = (key, list) => list.reduce((total, r) => total + r[key], 0);
                const api = resources.filter(r => r.name.endsWith('/graphql'));
                const assets = resources.filter(r => !r.name.endsWith('/graphql'));
                return {
                    dataPaintedMs: Math.round(mark.startTime),
                    firstContentfulPaintMs: Math.round(performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1),
                    transferBytes: nav.transferSize + sum('transferSize', resources),
                    assetTransferBytes: nav.transferSize + sum('transferSize', assets),
                    apiTransferBytes: sum('transferSize', api),
                    decodedBytes: nav.decodedBodySize + sum('decodedBodySize', resources),
                    requests: 1 + resources.length,
                    apiRequests: api.length,
                    figures: document.querySelectorAll('#figures tbody td').length,
                };
            })()",
            30,
        )
        .await;
    browser.finish().await;
    figures
}

async fn the_pages_speed_and_size_are_measured(backend: Backend) {
    let seeded = TestApp::builder(backend).start().await;
    // Once to warm the browser binary and the server's first queries (not reported).
    measure(&seeded, "/").await;
    let mut results = vec![(
        "seeded data, USA and China".to_string(),
        measure(&seeded, "/").await,
    )];
    drop(seeded);

    let dir = std::env::temp_dir().join(format!("techbalance-200-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let baseline = dir.join(format!("baseline-{backend:?}.toml"));
    std::fs::write(&baseline, baseline_with_countries(198)).expect("write baseline");
    let path = baseline.to_string_lossy().into_owned();
    let many = TestApp::builder(backend)
        .with_vars(&[("TECHBALANCE_BASELINE", path.as_str())])
        .start()
        .await;
    let count = app_countries(&many).await;
    assert_eq!(count.len(), 200);
    results.push((
        "200 countries stored, USA and China".to_string(),
        measure(&many, "/").await,
    ));
    let twenty = count[..20].join(",");
    results.push((
        "200 countries stored, 20 chosen".to_string(),
        measure(&many, &format!("/?countries={twenty}")).await,
    ));
    let _ = std::fs::remove_dir_all(&dir);

    for (what, figures) in &results {
        assert!(
            figures["dataPaintedMs"].as_i64().is_some_and(|ms| ms > 0),
            "{figures}"
        );
        assert!(
            figures["transferBytes"].as_i64().is_some_and(|b| b > 0),
            "{figures}"
        );
        eprintln!("{backend:?}, {what}: {figures}");
    }
    let report: Value = results
        .into_iter()
        .collect::<serde_json::Map<_, _>>()
        .into();
    std::fs::write(
        crate::browser::artifacts().join(format!("speed-{backend:?}.json")),
        serde_json::to_string_pretty(&report).expect("JSON"),
    )
    .expect("write the measurements");
}

async fn app_countries(app: &TestApp) -> Vec<String> {
    app.data("{ countries { code } }").await["countries"]
        .as_array()
        .expect("countries")
        .iter()
        .map(|c| c["code"].as_str().expect("code").to_string())
        .collect()
}

/// A series as the page's charts carry it in `data-points`: `year=value` for each non-null
/// point, joined by `;`.
fn chart_points(series: &Value) -> String {
    series
        .as_array()
        .expect("series")
        .iter()
        .filter(|p| !p["value"].is_null())
        .map(|p| format!("{}={}", p["year"], p["value"].as_f64().expect("value")))
        .collect::<Vec<_>>()
        .join(";")
}
