//! Our World in Data end to end: the worker refreshes `owid` from a local chart API, the API
//! answers the figures with their source and citation, a changed value is a revision, and a
//! re-shaped chart is held, never withdrawn.

use crate::both_backends;
use crate::fake_owid::{Chart, FakeOwid};
use crate::support::{Backend, TestApp};
use serde_json::{json, Value};
use techbalance_worker::pipeline::RefreshOutcome;

both_backends!(
    owid_figures_are_served_with_their_citation_and_a_changed_value_is_a_revision,
    a_renamed_owid_column_holds_the_series_and_withdraws_nothing,
);

const SPACE: &str = "yearly-number-of-objects-launched-into-outer-space";
const AI_INVESTMENT: &str = "private-investment-in-artificial-intelligence-cset";
const UNOOSA: &str =
    "United Nations Office for Outer Space Affairs (2025) – processed by Our World in Data";

fn space_chart() -> Chart {
    Chart::new(
        "Annual number of objects launched into space",
        "annual_launches",
        "objects",
        UNOOSA,
    )
    .row("China", "CHN", 2023, "244")
    .row("Europe", "", 2023, "150")
    .row("European Union (27)", "OWID_EU27", 2023, "80")
    .row("United States", "USA", 2022, "1799")
    .row("United States", "USA", 2023, "2166")
    .row("United States", "USA", 2024, "")
    .row("World", "OWID_WRL", 2023, "2664")
}

fn investment_chart() -> Chart {
    Chart::new(
        "Annual private investment in artificial intelligence",
        "investment_estimated__field_all",
        "constant 2021 US$",
        "Center for Security and Emerging Technology (2025) – with major processing by Our World in Data",
    )
    .row("China", "CHN", 2023, "10440000000")
    .row("North America (CSET)", "", 2023, "70000000000")
    .row("United States", "USA", 2023, "61240000000")
}

struct Setup {
    app: TestApp,
    fake: FakeOwid,
}

async fn setup(backend: Backend) -> Setup {
    let app = TestApp::builder(backend).start().await;
    let fake =
        FakeOwid::start(&[(SPACE, space_chart()), (AI_INVESTMENT, investment_chart())]).await;
    Setup { app, fake }
}

impl Setup {
    async fn refresh(&self) -> RefreshOutcome {
        let config = self.app.db.config_with(&[
            ("TECHBALANCE_OWID_URL", &self.fake.url()),
            ("TECHBALANCE_COUNTRIES", "USA,CHN,EUU"),
            ("TECHBALANCE_FETCH_ATTEMPTS", "1"),
        ]);
        let sources = techbalance::sources(&config).expect("sources");
        let owid = sources
            .iter()
            .find(|s| s.id() == "owid")
            .expect("the owid source");
        techbalance::refresh(&self.app.store, &config, owid.as_ref(), &|_| {})
            .await
            .expect("refresh")
    }

    async fn series(&self, metric: &str, country: &str, as_of: Option<&str>) -> Value {
        let as_of = as_of.map_or(String::new(), |t| format!(", asOf: \"{t}\""));
        let data = self
            .app
            .data(&format!(
                r#"{{ metric(slug: "{metric}") {{ series(country: "{country}", source: "owid"{as_of}) {{ year value release citation source {{ id name }} }} }} }}"#
            ))
            .await;
        data["metric"]["series"].clone()
    }
}

async fn owid_figures_are_served_with_their_citation_and_a_changed_value_is_a_revision(
    backend: Backend,
) {
    let s = setup(backend).await;
    let countries_before = s.app.data("{ countries { code } }").await;
    let first = s.refresh().await;
    // USA 2022, 2023; CHN 2023; the EU 2023 — and USA, CHN investment.
    assert_eq!(first.summary.inserted, 6, "{first:?}");
    let notes = first.notes.clone().unwrap_or_default();
    // The bundled baseline maps more charts than this server has: each is named, not fatal.
    assert!(
        notes.contains("chart(s) not found") && notes.contains("car-sales"),
        "{notes}"
    );

    let usa = s.series("space_objects_launched", "USA", None).await;
    let citation = format!(
        "{UNOOSA}; Our World in Data, chart \"Annual number of objects launched into space\" ({}/{SPACE}), column annual_launches, updated 2025-01-06",
        s.fake.url()
    );
    assert_eq!(
        usa,
        json!([
            {"year": 2022, "value": 1799.0, "release": "2025-01-06", "citation": citation, "source": {"id": "owid", "name": "Our World in Data"}},
            {"year": 2023, "value": 2166.0, "release": "2025-01-06", "citation": citation, "source": {"id": "owid", "name": "Our World in Data"}}
        ])
    );
    let eu = s.series("space_objects_launched", "EUU", None).await;
    assert_eq!(eu[0]["value"], json!(80.0));
    let investment = s.series("ai_private_investment_usd", "USA", None).await;
    assert_eq!(investment[0]["value"], json!(61_240_000_000.0));
    assert!(investment[0]["citation"]
        .as_str()
        .is_some_and(|c| c.starts_with("Center for Security and Emerging Technology")));
    // Regions and OWID_* aggregates never become countries.
    assert_eq!(s.app.data("{ countries { code } }").await, countries_before);

    let known_then = chrono::Utc::now().to_rfc3339();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    s.fake.edit(SPACE, |chart| chart.set("USA", 2023, "2201"));
    let second = s.refresh().await;
    assert_eq!(
        (
            second.summary.revised,
            second.summary.inserted,
            second.summary.withdrawn
        ),
        (1, 0, 0),
        "{second:?}"
    );
    let now = s.series("space_objects_launched", "USA", None).await;
    assert_eq!(now[1]["value"], json!(2201.0));
    let then = s
        .series("space_objects_launched", "USA", Some(&known_then))
        .await;
    assert_eq!(
        then[1]["value"],
        json!(2166.0),
        "asOf shows the value known then"
    );
}

async fn a_renamed_owid_column_holds_the_series_and_withdraws_nothing(backend: Backend) {
    let s = setup(backend).await;
    s.refresh().await;
    let before = s.series("space_objects_launched", "USA", None).await;
    s.fake
        .edit(SPACE, |chart| chart.column = "yearly_launches".into());
    let outcome = s.refresh().await;
    assert_eq!(outcome.summary.withdrawn, 0, "{outcome:?}");
    assert_eq!(outcome.summary.held, 4, "{outcome:?}");
    let notes = outcome.notes.unwrap_or_default();
    assert!(
        notes.contains("the metadata describes no column annual_launches (it has yearly_launches)")
            && notes.contains("withdrawals held for an operator"),
        "{notes}"
    );
    assert_eq!(
        s.series("space_objects_launched", "USA", None).await,
        before
    );
    let data = s
        .app
        .data(r#"{ refreshRuns(first: 1, source: "owid") { edges { node { status } } } }"#)
        .await;
    assert_eq!(
        data["refreshRuns"]["edges"][0]["node"]["status"],
        json!("HELD")
    );
}
