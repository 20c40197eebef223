//! Peers beyond two: the default refresh asks every source for the United States, China, their
//! peers and the EU (an aggregate, `EUU`), and each source refreshes what it publishes.

use crate::both_backends;
use crate::fake_owid::{Chart, FakeOwid};
use crate::fake_worldbank::{FakeWorldBank, Vintage};
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};

both_backends!(the_default_refresh_covers_the_peers_and_the_eu_each_source_skipping_what_it_lacks);

const RD: &str = "GB.XPD.RSDV.GD.ZS";
const SPACE: &str = "yearly-number-of-objects-launched-into-outer-space";

async fn refresh(app: &TestApp, source: &str, vars: &[(&str, &str)]) -> String {
    let config = app.db.config_with(vars);
    let sources = techbalance::sources(&config).expect("sources");
    let source = sources
        .iter()
        .find(|s| s.id() == source)
        .expect("the source");
    let outcome = techbalance::refresh(&app.store, &config, source.as_ref(), &|_| {})
        .await
        .expect("refresh");
    outcome.notes.unwrap_or_default()
}

async fn values(app: &TestApp, metric: &str, source: &str) -> Vec<(String, i64)> {
    let data = app
        .data(&format!(
            r#"{{ observations(metric: "{metric}", source: "{source}") {{ country {{ code }} year }} }}"#
        ))
        .await;
    let mut got: Vec<(String, i64)> = data["observations"]
        .as_array()
        .expect("observations")
        .iter()
        .map(|o: &Value| {
            (
                o["country"]["code"].as_str().expect("code").to_owned(),
                o["year"].as_i64().expect("year"),
            )
        })
        .collect();
    got.sort();
    got
}

async fn the_default_refresh_covers_the_peers_and_the_eu_each_source_skipping_what_it_lacks(
    backend: Backend,
) {
    let app = TestApp::builder(backend).start().await;
    let countries = app.data("{ countries { code kind } }").await;
    let kinds: Vec<(String, String)> = countries["countries"]
        .as_array()
        .expect("countries")
        .iter()
        .map(|c| {
            (
                c["code"].as_str().expect("code").to_owned(),
                c["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect();
    for code in ["USA", "CHN", "JPN", "DEU", "KOR", "GBR", "FRA", "IND"] {
        assert!(
            kinds.contains(&(code.to_owned(), "COUNTRY".to_owned())),
            "{code}: {kinds:?}"
        );
    }
    assert!(
        kinds.contains(&("EUU".to_owned(), "AGGREGATE".to_owned())),
        "{kinds:?}"
    );

    // The World Bank serves the EU as EUU and refuses one economy (error 120): the rest is recorded.
    let mut vintage = Vintage::new("2025-12-16");
    for code in ["USA", "CHN", "JPN", "DEU", "KOR", "GBR", "FRA", "EUU"] {
        vintage = vintage.with(RD, code, 2022, Some(2.0));
    }
    let worldbank = FakeWorldBank::start(vintage).await;
    worldbank.refuse_countries(&["IND"]);
    let notes = refresh(
        &app,
        "worldbank",
        &[
            ("TECHBALANCE_WORLDBANK_URL", &worldbank.url()),
            ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
        ],
    )
    .await;
    assert!(
        notes.contains("refused by worldbank, not refreshed: IND"),
        "{notes}"
    );
    let rd = values(&app, "rd_intensity", "worldbank").await;
    let codes: Vec<&str> = rd.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        codes,
        ["CHN", "DEU", "EUU", "FRA", "GBR", "JPN", "KOR", "USA"]
    );

    // Our World in Data publishes the EU as OWID_EU27 and has no row for most peers.
    let owid = FakeOwid::start(&[(
        SPACE,
        Chart::new(
            "Objects launched into space",
            "annual_launches",
            "objects",
            "UNOOSA (2025)",
        )
        .row("China", "CHN", 2023, "244")
        .row("European Union (27)", "OWID_EU27", 2023, "80")
        .row("Japan", "JPN", 2023, "12")
        .row("United States", "USA", 2023, "2166")
        .row("World", "OWID_WRL", 2023, "2664"),
    )])
    .await;
    let notes = refresh(
        &app,
        "owid",
        &[
            ("TECHBALANCE_OWID_URL", &owid.url()),
            ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
        ],
    )
    .await;
    assert!(
        notes.contains(&format!(
            "owid {SPACE} does not publish DEU, KOR, GBR, FRA, IND"
        )),
        "{notes}"
    );
    assert_eq!(
        values(&app, "space_objects_launched", "owid").await,
        [
            ("CHN".to_owned(), 2023),
            ("EUU".to_owned(), 2023),
            ("JPN".to_owned(), 2023),
            ("USA".to_owned(), 2023)
        ]
    );
    // Still nine countries: no region or aggregate of a source became one.
    assert_eq!(app.data("{ countries { code kind } }").await, countries);
    assert_eq!(
        app.data(r#"{ country(code: "EUU") { name kind } }"#).await,
        json!({"country": {"name": "European Union", "kind": "AGGREGATE"}})
    );
}
