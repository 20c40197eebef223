//! Every query of the API, its arguments and its errors.

use crate::both_backends;
use crate::support::{code, Backend, TestApp};
use serde_json::json;
use techbalance_store::record::{Batch, Point, Scope};

both_backends!(
    countries_are_listed_with_codes_and_names,
    a_country_is_found_by_iso3_or_iso2_in_any_case,
    an_unknown_country_is_not_found_and_named,
    rd_intensity_is_3_5_for_usa_and_2_6_for_china_with_source_and_year,
    metrics_can_be_filtered_by_category,
    an_unknown_metric_is_not_found_and_named,
    a_series_keeps_the_years_asked_for,
    a_reversed_year_range_is_bad_user_input,
    observations_carry_country_metric_source_qualifier_and_citation,
    observations_can_be_limited_to_countries_and_years,
    compare_gives_the_ratio_and_the_leader,
    compare_falls_back_to_the_nearest_year_a_country_has,
    compare_respects_metrics_where_lower_is_better,
    compare_needs_two_countries,
    sectors_can_be_filtered_by_leader,
    a_sector_lists_its_companies,
    an_unknown_sector_is_not_found,
    sources_and_metric_sources_are_listed,
    a_country_has_its_companies_and_highlights,
    an_official_source_is_preferred_over_the_baseline_for_the_same_year,
);

async fn countries_are_listed_with_codes_and_names(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app.data("{ countries { code iso2 name kind } }").await;
    assert_eq!(
        data["countries"],
        json!([
            { "code": "CHN", "iso2": "CN", "name": "China", "kind": "COUNTRY" },
            { "code": "EUU", "iso2": "EU", "name": "European Union", "kind": "AGGREGATE" },
            { "code": "FRA", "iso2": "FR", "name": "France", "kind": "COUNTRY" },
            { "code": "DEU", "iso2": "DE", "name": "Germany", "kind": "COUNTRY" },
            { "code": "IND", "iso2": "IN", "name": "India", "kind": "COUNTRY" },
            { "code": "JPN", "iso2": "JP", "name": "Japan", "kind": "COUNTRY" },
            { "code": "KOR", "iso2": "KR", "name": "South Korea", "kind": "COUNTRY" },
            { "code": "GBR", "iso2": "GB", "name": "United Kingdom", "kind": "COUNTRY" },
            { "code": "USA", "iso2": "US", "name": "United States", "kind": "COUNTRY" },
        ])
    );
}

async fn a_country_is_found_by_iso3_or_iso2_in_any_case(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for (code, expected) in [
        ("USA", "USA"),
        ("us", "USA"),
        ("cHn", "CHN"),
        ("CN", "CHN"),
        ("usa", "USA"),
    ] {
        let data = app
            .data(&format!("{{ country(code: \"{code}\") {{ code }} }}"))
            .await;
        assert_eq!(data["country"]["code"], expected, "lookup of {code}");
    }
}

async fn an_unknown_country_is_not_found_and_named(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let error = app.error(r#"{ country(code: "XYZ") { code } }"#).await;
    assert_eq!(code(&error), "NOT_FOUND");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("XYZ")),
        "{error}"
    );
    let error = app
        .error(r#"{ observations(metric: "rd_intensity", countries: ["USA", "ATL"]) { year } }"#)
        .await;
    assert_eq!(code(&error), "NOT_FOUND");
    assert!(
        error["message"].as_str().is_some_and(|m| m.contains("ATL")),
        "{error}"
    );
}

async fn rd_intensity_is_3_5_for_usa_and_2_6_for_china_with_source_and_year(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(
            r#"{ metric(slug: "rd_intensity") {
                   unit higherIsBetter
                   usa: latest(country: "USA") { year value source { id } }
                   chn: latest(country: "cn") { year value source { id } }
               } }"#,
        )
        .await;
    let metric = &data["metric"];
    assert_eq!(metric["unit"], "PERCENT_OF_GDP");
    assert_eq!(metric["higherIsBetter"], true);
    assert_eq!(
        metric["usa"],
        json!({ "year": 2024, "value": 3.5, "source": { "id": "baseline" } })
    );
    assert_eq!(
        metric["chn"],
        json!({ "year": 2024, "value": 2.6, "source": { "id": "baseline" } })
    );
}

async fn metrics_can_be_filtered_by_category(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let all = app.data("{ metrics { slug category } }").await;
    let all = all["metrics"].as_array().expect("metrics").clone();
    assert!(all.len() >= 16, "{} metrics", all.len());
    let talent = app
        .data(r#"{ metrics(category: "talent") { slug category } }"#)
        .await;
    let talent = talent["metrics"].as_array().expect("metrics");
    assert!(!talent.is_empty());
    assert!(talent.iter().all(|m| m["category"] == "talent"));
    assert!(talent.iter().any(|m| m["slug"] == "researchers_fte"));
    assert!(talent.len() < all.len());
}

async fn an_unknown_metric_is_not_found_and_named(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for query in [
        r#"{ metric(slug: "warp_drives") { slug } }"#,
        r#"{ observations(metric: "warp_drives") { year } }"#,
        r#"{ compare(metric: "warp_drives") { ratio } }"#,
    ] {
        let error = app.error(query).await;
        assert_eq!(code(&error), "NOT_FOUND", "{query}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("warp_drives")),
            "{error}"
        );
    }
}

async fn record(app: &TestApp, source: &str, metric: &str, points: &[(&str, i32, f64)]) {
    app.store
        .record(
            &Batch {
                source: source.into(),
                release: None,
                scope: Scope {
                    metrics: vec![metric.into()],
                    countries: Some(points.iter().map(|p| p.0.to_string()).collect()),
                    years: None,
                },
                points: points
                    .iter()
                    .map(|(country, year, value)| Point {
                        metric: metric.into(),
                        country: (*country).into(),
                        year: *year,
                        value: *value,
                        qualifier: None,
                        citation: None,
                    })
                    .collect(),
            },
            techbalance_store::now(),
        )
        .await
        .expect("record");
}

async fn a_series_keeps_the_years_asked_for(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    record(
        &app,
        "baseline",
        "gdp_usd",
        &[
            ("USA", 2019, 21.5e12),
            ("USA", 2020, 21.3e12),
            ("USA", 2021, 23.6e12),
            ("USA", 2022, 25.7e12),
        ],
    )
    .await;
    let data = app
        .data(r#"{ metric(slug: "gdp_usd") { series(country: "USA", from: 2020, to: 2021) { year value } } }"#)
        .await;
    assert_eq!(
        data["metric"]["series"],
        json!([{ "year": 2020, "value": 21.3e12 }, { "year": 2021, "value": 23.6e12 }])
    );
    let data = app
        .data(r#"{ metric(slug: "gdp_usd") { series(country: "us", from: 2021) { year } } }"#)
        .await;
    assert_eq!(
        data["metric"]["series"],
        json!([{ "year": 2021 }, { "year": 2022 }])
    );
}

async fn a_reversed_year_range_is_bad_user_input(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    for query in [
        r#"{ metric(slug: "gdp_usd") { series(country: "USA", from: 2022, to: 2020) { year } } }"#,
        r#"{ observations(metric: "gdp_usd", from: 2022, to: 2020) { year } }"#,
        r#"{ observations(metric: "gdp_usd", from: -5) { year } }"#,
    ] {
        let error = app.error(query).await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{query}: {error}");
    }
}

async fn observations_carry_country_metric_source_qualifier_and_citation(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(
            r#"{ observations(metric: "scientific_papers") {
                   country { code } metric { slug } year value qualifier source { id } recordedAt citation
               } }"#,
        )
        .await;
    let rows = data["observations"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    let china = &rows[0];
    assert_eq!(china["country"]["code"], "CHN");
    assert_eq!(china["metric"]["slug"], "scientific_papers");
    assert_eq!(china["value"], 700000.0);
    assert_eq!(china["qualifier"], "APPROXIMATE");
    assert_eq!(china["source"]["id"], "baseline");
    assert!(
        china["recordedAt"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{china}"
    );
    assert!(
        china["citation"]
            .as_str()
            .is_some_and(|c| c.contains("US & China Balance")),
        "{china}"
    );

    let data = app
        .data(r#"{ observations(metric: "li_ion_capacity_share") { country { code } value qualifier } }"#)
        .await;
    assert_eq!(
        data["observations"],
        json!([{ "country": { "code": "CHN" }, "value": 75.0, "qualifier": "LOWER_BOUND" }])
    );
}

async fn observations_can_be_limited_to_countries_and_years(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    record(
        &app,
        "baseline",
        "gdp_usd",
        &[("USA", 2020, 1.0), ("USA", 2021, 2.0), ("CHN", 2021, 3.0)],
    )
    .await;
    let data = app
        .data(r#"{ observations(metric: "gdp_usd", countries: ["cn"], from: 2021, to: 2021) { country { code } year value } }"#)
        .await;
    assert_eq!(
        data["observations"],
        json!([{ "country": { "code": "CHN" }, "year": 2021, "value": 3.0 }])
    );
    let data = app
        .data(r#"{ observations(metric: "gdp_usd", to: 2020) { year } }"#)
        .await;
    assert_eq!(data["observations"], json!([{ "year": 2020 }]));
}

async fn compare_gives_the_ratio_and_the_leader(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(
            r#"{ compare(metric: "patent_applications", countries: ["USA", "CHN"], year: 2023) {
                   year ratio sameYear leader { code } metric { slug }
                   entries { country { code } value yearUsed observation { source { id } } }
               } }"#,
        )
        .await;
    let compare = &data["compare"];
    assert_eq!(compare["leader"]["code"], "CHN");
    assert_eq!(compare["sameYear"], true);
    let ratio = compare["ratio"].as_f64().expect("ratio");
    assert!(
        (ratio - 505_000.0 / 1_600_000.0).abs() < 1e-12,
        "ratio {ratio}"
    );
    assert_eq!(compare["entries"][0]["country"]["code"], "USA");
    assert_eq!(compare["entries"][0]["yearUsed"], 2023);
    assert_eq!(compare["entries"][1]["value"], 1_600_000.0);
    assert_eq!(
        compare["entries"][1]["observation"]["source"]["id"],
        "baseline"
    );
    // The default pair is the United States and China.
    let data = app.data(r#"{ compare(metric: "rd_intensity") { leader { code } entries { country { code } } } }"#).await;
    assert_eq!(data["compare"]["leader"]["code"], "USA");
    assert_eq!(data["compare"]["entries"][1]["country"]["code"], "CHN");
}

async fn compare_falls_back_to_the_nearest_year_a_country_has(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(r#"{ compare(metric: "rd_intensity", year: 2030) { year sameYear ratio entries { yearUsed value } } }"#)
        .await;
    let compare = &data["compare"];
    assert_eq!(compare["year"], 2030);
    assert_eq!(compare["sameYear"], false);
    assert_eq!(
        compare["entries"],
        json!([{ "yearUsed": 2024, "value": 3.5 }, { "yearUsed": 2024, "value": 2.6 }])
    );
    // Only the earliest later year exists before it.
    let data = app
        .data(r#"{ compare(metric: "rd_intensity", year: 2001) { entries { yearUsed } } }"#)
        .await;
    assert_eq!(data["compare"]["entries"][0]["yearUsed"], 2024);
    // A country without any value has none, and there is no leader or ratio.
    let data = app
        .data(r#"{ compare(metric: "stem_phd_graduates") { ratio leader { code } entries { value yearUsed } } }"#)
        .await;
    assert_eq!(
        data["compare"]["entries"][1],
        json!({ "value": null, "yearUsed": null })
    );
    assert_eq!(data["compare"]["leader"], json!(null));
    assert_eq!(data["compare"]["ratio"], json!(null));
}

async fn compare_respects_metrics_where_lower_is_better(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    // ai_phd_international_share: a higher share means more dependence on foreign talent.
    record(
        &app,
        "worldbank",
        "ai_phd_international_share",
        &[("CHN", 2023, 10.0)],
    )
    .await;
    let data = app
        .data(r#"{ metric(slug: "ai_phd_international_share") { higherIsBetter } compare(metric: "ai_phd_international_share") { leader { code } } }"#)
        .await;
    assert_eq!(data["metric"]["higherIsBetter"], false);
    assert_eq!(data["compare"]["leader"]["code"], "CHN");
}

async fn compare_needs_two_countries(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let error = app
        .error(r#"{ compare(metric: "rd_intensity", countries: ["USA"]) { ratio } }"#)
        .await;
    assert_eq!(code(&error), "BAD_USER_INPUT");
    // One country named twice, in any of its spellings, is not a comparison either.
    for countries in [r#"["USA", "usa"]"#, r#"["US", "CHN", "USA"]"#] {
        let error = app
            .error(&format!(
                r#"{{ compare(metric: "rd_intensity", countries: {countries}) {{ ratio }} }}"#
            ))
            .await;
        assert_eq!(code(&error), "BAD_USER_INPUT", "{countries}: {error}");
        assert!(
            error["message"]
                .as_str()
                .is_some_and(|m| m.contains("USA twice")),
            "{countries}: {error}"
        );
    }
}

async fn sectors_can_be_filtered_by_leader(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app.data("{ sectors { slug leader } }").await;
    assert_eq!(data["sectors"].as_array().map(Vec::len), Some(8));
    let data = app.data("{ sectors(leader: CHINA) { slug leader } }").await;
    let slugs: Vec<&str> = data["sectors"]
        .as_array()
        .expect("sectors")
        .iter()
        .map(|s| s["slug"].as_str().expect("slug"))
        .collect();
    assert_eq!(
        slugs,
        ["telecom-5g-6g", "batteries-evs", "solar-clean-energy"]
    );
    let data = app
        .data("{ sectors(leader: US_AND_ALLIES) { slug } }")
        .await;
    assert_eq!(data["sectors"], json!([{ "slug": "semiconductors" }]));
    let data = app
        .data("{ sectors(leader: CONTESTED) { name leader } }")
        .await;
    assert_eq!(
        data["sectors"],
        json!([{ "name": "Quantum Computing", "leader": "CONTESTED" }])
    );
}

async fn a_sector_lists_its_companies(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(r#"{ sector(slug: "batteries-evs") { name leader summary companies { name country { code } sectors { slug } } } }"#)
        .await;
    let sector = &data["sector"];
    assert_eq!(sector["leader"], "CHINA");
    assert!(sector["summary"].as_str().is_some_and(|s| !s.is_empty()));
    let names: Vec<&str> = sector["companies"]
        .as_array()
        .expect("companies")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    for expected in ["BYD", "CATL", "Tesla"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let catl = sector["companies"]
        .as_array()
        .expect("companies")
        .iter()
        .find(|c| c["name"] == "CATL")
        .expect("CATL");
    assert_eq!(catl["country"]["code"], "CHN");
}

async fn an_unknown_sector_is_not_found(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let error = app
        .error(r#"{ sector(slug: "time-travel") { name } }"#)
        .await;
    assert_eq!(code(&error), "NOT_FOUND");
    let error = app
        .error(r#"{ companies(sector: "time-travel") { totalCount } }"#)
        .await;
    assert_eq!(code(&error), "NOT_FOUND");
}

async fn sources_and_metric_sources_are_listed(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(r#"{ sources { id name homepage } metric(slug: "rd_intensity") { sources { id } } gdp: metric(slug: "gdp_usd") { sources { id } } }"#)
        .await;
    let ids: Vec<&str> = data["sources"]
        .as_array()
        .expect("sources")
        .iter()
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["baseline", "oecd-msti", "owid", "worldbank"]);
    assert!(data["sources"][0]["homepage"]
        .as_str()
        .is_some_and(|h| h.starts_with("https://")));
    assert_eq!(data["metric"]["sources"], json!([{ "id": "baseline" }]));
    // The page gives no GDP figure, so no source publishes one yet.
    assert_eq!(data["gdp"]["sources"], json!([]));
}

async fn a_country_has_its_companies_and_highlights(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    let data = app
        .data(r#"{ country(code: "CHN") { flag companies { name ownership founded headquarters } highlights(topic: "talent") { topic title body } } }"#)
        .await;
    let country = &data["country"];
    assert_eq!(country["flag"], "🇨🇳");
    let companies = country["companies"].as_array().expect("companies");
    assert_eq!(companies.len(), 10);
    assert!(companies
        .iter()
        .all(|c| c["ownership"] == "STATE_SUPERVISED"));
    let huawei = companies
        .iter()
        .find(|c| c["name"] == "Huawei")
        .expect("Huawei");
    assert_eq!(huawei["founded"], 1987);
    let highlights = country["highlights"].as_array().expect("highlights");
    assert!(!highlights.is_empty());
    assert!(highlights.iter().all(|h| h["topic"] == "talent"));
}

async fn an_official_source_is_preferred_over_the_baseline_for_the_same_year(backend: Backend) {
    let app = TestApp::builder(backend).start().await;
    record(&app, "worldbank", "rd_intensity", &[("USA", 2024, 3.45)]).await;
    let data = app
        .data(
            r#"{ metric(slug: "rd_intensity") { latest(country: "USA") { value source { id } } series(country: "USA") { value source { id } } sources { id } }
                 observations(metric: "rd_intensity", countries: ["USA"]) { value source { id } } }"#,
        )
        .await;
    assert_eq!(
        data["metric"]["latest"],
        json!({ "value": 3.45, "source": { "id": "worldbank" } })
    );
    assert_eq!(
        data["metric"]["series"],
        json!([{ "value": 3.45, "source": { "id": "worldbank" } }])
    );
    assert_eq!(
        data["metric"]["sources"],
        json!([{ "id": "baseline" }, { "id": "worldbank" }])
    );
    // `observations` keeps every source's value.
    assert_eq!(
        data["observations"],
        json!([{ "value": 3.5, "source": { "id": "baseline" } }, { "value": 3.45, "source": { "id": "worldbank" } }])
    );
}
