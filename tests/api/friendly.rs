//! Answers a newcomer would expect: an unknown name suggests the closest known one, and
//! companies are listed by name ignoring case.

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use serde_json::Value;

both_backends!(
    an_unknown_name_suggests_the_closest_known_one,
    companies_are_listed_by_name_ignoring_case_on_every_page,
);

async fn an_unknown_name_suggests_the_closest_known_one(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for (query, what, typed, meant) in [
        (
            r#"{ metric(slug: "gdp") { name } }"#,
            "metric",
            "gdp",
            "gdp_usd",
        ),
        (
            r#"{ compare(metric: "rd_intensty") { ratio } }"#,
            "metric",
            "rd_intensty",
            "rd_intensity",
        ),
        (
            r#"{ country(code: "Chna") { name } }"#,
            "country",
            "Chna",
            "CHN",
        ),
        (
            r#"{ compare(metric: "rd_intensity", countries: ["USA", "Chinaa"]) { ratio } }"#,
            "country",
            "Chinaa",
            "CHN",
        ),
        (
            r#"{ sector(slug: "semiconductor") { name } }"#,
            "sector",
            "semiconductor",
            "semiconductors",
        ),
        (
            r#"{ companies(sector: "semiconductor") { totalCount } }"#,
            "sector",
            "semiconductor",
            "semiconductors",
        ),
        (
            r#"{ metric(slug: "rd_intensity") { latest(country: "USA", source: "world_bank") { year } } }"#,
            "source",
            "world_bank",
            "worldbank",
        ),
    ] {
        let error = app.error(query).await;
        assert_eq!(code(&error), "NOT_FOUND", "{query}: {error}");
        assert_eq!(
            error["message"],
            format!("unknown {what} \"{typed}\"; did you mean \"{meant}\"?"),
            "{query}"
        );
        assert_eq!(error["extensions"]["suggestion"], meant, "{query}");
    }
    // Nothing close: no suggestion.
    let error = app.error(r#"{ metric(slug: "weather") { name } }"#).await;
    assert_eq!(error["message"], "unknown metric \"weather\"");
    assert!(error["extensions"].get("suggestion").is_none(), "{error}");
}

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().expect("name").to_owned())
        .collect()
}

fn sorted_ignoring_case(names: &[String]) -> bool {
    names
        .windows(2)
        .all(|w| w[0].to_lowercase() <= w[1].to_lowercase())
}

async fn companies_are_listed_by_name_ignoring_case_on_every_page(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let all = names(
        &app.data("{ companies(first: 100) { edges { node { name } } } }")
            .await["companies"],
    );
    assert!(all.len() >= 3, "{all:?}");
    assert!(sorted_ignoring_case(&all), "{all:?}");
    let position = |name: &str| {
        all.iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} not in {all:?}"))
    };
    assert!(position("Alibaba") < position("Baidu"), "{all:?}");
    assert!(position("Baidu") < position("BYD"), "{all:?}");

    // Paging through three at a time gives the same order.
    let mut paged = Vec::new();
    let mut after = String::new();
    loop {
        let query = format!(
            "{{ companies(first: 3{after}) {{ edges {{ node {{ name }} }} pageInfo {{ hasNextPage endCursor }} }} }}"
        );
        let page = app.data(&query).await["companies"].clone();
        paged.extend(names(&page));
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = format!(", after: {}", page["pageInfo"]["endCursor"]);
    }
    assert_eq!(paged, all);

    // A country's and a sector's companies too.
    let data = app
        .data(r#"{ country(code: "CN") { companies { name } } sectors { companies { name } } }"#)
        .await;
    let listed = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("companies")
            .iter()
            .map(|c| c["name"].as_str().expect("name").to_owned())
            .collect()
    };
    assert!(
        sorted_ignoring_case(&listed(&data["country"]["companies"])),
        "{data}"
    );
    for sector in data["sectors"].as_array().expect("sectors") {
        assert!(
            sorted_ignoring_case(&listed(&sector["companies"])),
            "{sector}"
        );
    }
}
