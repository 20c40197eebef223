//! Countries an answer cannot be recorded under: two codes with one ISO2 code (in the answer, or
//! against a country the store knows), or a code the store does not know and the source does not
//! name. Their figures are left out of every batch (and out of its scope, so nothing of theirs is
//! withdrawn either); the rest of the answer is recorded, and the run's notes name the conflict.
//! Recording them would break a key, the same way on every attempt.

use crate::sources::{CountryInfo, Fetched};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Removes the countries of `fetched` that conflict with each other or with `known` (code →
/// ISO2), and returns one note per conflict.
pub fn resolve(
    source_id: &str,
    fetched: &mut Fetched,
    known: &HashMap<String, String>,
) -> Vec<String> {
    let mut notes = Vec::new();
    let mut dropped: BTreeSet<String> = BTreeSet::new();
    // Codes named by the answer or already known, by ISO2 code.
    let mut by_iso2: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for info in &fetched.countries {
        by_iso2.entry(&info.iso2).or_default().insert(&info.code);
    }
    for (code, iso2) in known {
        if let Some(codes) = by_iso2.get_mut(iso2.as_str()) {
            codes.insert(code);
        }
    }
    for (iso2, codes) in &by_iso2 {
        if codes.len() < 2 {
            continue;
        }
        // Countries already stored keep their figures; new ones cannot be added.
        let new: Vec<&str> = codes
            .iter()
            .copied()
            .filter(|c| !known.contains_key(*c))
            .collect();
        notes.push(format!(
            "conflict: {source_id} names {} with one ISO2 code {iso2}; figures not recorded for {}",
            join(codes.iter().copied()),
            join(new.iter().copied())
        ));
        dropped.extend(new.into_iter().map(str::to_owned));
    }
    let named: BTreeSet<&str> = fetched.countries.iter().map(|c| c.code.as_str()).collect();
    let unknown: BTreeSet<String> = fetched
        .batches
        .iter()
        .flat_map(|b| &b.points)
        .map(|p| p.country.as_str())
        .filter(|c| !known.contains_key(*c) && !named.contains(c))
        .map(str::to_owned)
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "conflict: {source_id} gives figures for {}, a country this service does not know and \
             the source does not name with an ISO2 code; figures not recorded",
            join(unknown.iter().map(String::as_str))
        ));
        dropped.extend(unknown);
    }
    if !dropped.is_empty() {
        drop_countries(fetched, &dropped);
    }
    notes
}

fn drop_countries(fetched: &mut Fetched, dropped: &BTreeSet<String>) {
    fetched
        .countries
        .retain(|c: &CountryInfo| !dropped.contains(&c.code));
    for batch in &mut fetched.batches {
        batch.points.retain(|p| !dropped.contains(&p.country));
        if let Some(countries) = &mut batch.scope.countries {
            countries.retain(|c| !dropped.contains(c));
        }
    }
}

fn join<'a>(codes: impl Iterator<Item = &'a str>) -> String {
    codes.collect::<Vec<_>>().join(" and ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use techbalance_store::record::{Batch, Point, Scope};

    fn point(country: &str) -> Point {
        Point {
            metric: "gdp_usd".into(),
            country: country.into(),
            year: 2022,
            value: 1.0,
            qualifier: None,
            citation: None,
        }
    }

    fn answer(countries: &[(&str, &str)]) -> Fetched {
        Fetched {
            batches: vec![Batch {
                source: "worldbank".into(),
                release: None,
                scope: Scope {
                    metrics: vec!["gdp_usd".into()],
                    countries: Some(countries.iter().map(|(c, _)| c.to_string()).collect()),
                    years: None,
                },
                points: countries.iter().map(|(c, _)| point(c)).collect(),
            }],
            countries: countries
                .iter()
                .map(|(code, iso2)| CountryInfo {
                    code: code.to_string(),
                    iso2: iso2.to_string(),
                    name: code.to_string(),
                })
                .collect(),
            ..Fetched::default()
        }
    }

    fn known() -> HashMap<String, String> {
        [("USA", "US"), ("CHN", "CN")]
            .into_iter()
            .map(|(c, i)| (c.to_owned(), i.to_owned()))
            .collect()
    }

    #[test]
    fn two_new_codes_with_one_iso2_are_both_left_out_and_named() {
        let mut fetched = answer(&[("USA", "US"), ("XKX", "XK"), ("KSV", "XK")]);
        let notes = resolve("worldbank", &mut fetched, &known());
        assert_eq!(
            notes,
            ["conflict: worldbank names KSV and XKX with one ISO2 code XK; figures not recorded for KSV and XKX"]
        );
        assert_eq!(fetched.batches[0].scope.countries, Some(vec!["USA".into()]));
        assert_eq!(fetched.batches[0].points, [point("USA")]);
        assert_eq!(fetched.countries.len(), 1);
    }

    #[test]
    fn a_new_code_taking_a_known_iso2_is_left_out_and_the_known_one_kept() {
        let mut fetched = answer(&[("USA", "US"), ("UMI", "US")]);
        let notes = resolve("worldbank", &mut fetched, &known());
        assert_eq!(
            notes,
            ["conflict: worldbank names UMI and USA with one ISO2 code US; figures not recorded for UMI"]
        );
        assert_eq!(fetched.batches[0].points, [point("USA")]);
    }

    #[test]
    fn figures_for_a_country_nobody_names_are_left_out() {
        let mut fetched = answer(&[("USA", "US"), ("KOR", "KR")]);
        fetched.countries.clear();
        let notes = resolve("oecd-msti", &mut fetched, &known());
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("oecd-msti gives figures for KOR"),
            "{notes:?}"
        );
        assert_eq!(fetched.batches[0].points, [point("USA")]);
    }

    #[test]
    fn an_answer_without_conflicts_is_left_as_it_is() {
        let mut fetched = answer(&[("USA", "US"), ("DEU", "DE")]);
        let before = fetched.clone();
        assert!(resolve("worldbank", &mut fetched, &known()).is_empty());
        assert_eq!(fetched, before);
    }
}
