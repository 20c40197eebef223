//! One metric's values for several countries side by side, and who leads: the one code path
//! behind `compare`, a sector's `evidence` and its `leaderHistory`.

use super::arguments;
use crate::error::{ApiError, OrGraphqlError};
use crate::types::{Comparison, ComparisonEntry, Metric, Observation};
use async_graphql::{Context, Result};
use chrono::{DateTime, Utc};
use techbalance_store::entities::observation;
use techbalance_store::queries::{ObservationFilter, SourcePreference};
use techbalance_store::Store;

/// Most countries one `compare` or `observations` call may name.
const MAX_COUNTRIES: usize = 50;

/// The countries of a comparison: at least two, each resolved (ISO3 or ISO2, any case), none
/// named twice, in the order given; BAD_USER_INPUT or NOT_FOUND otherwise.
pub(crate) async fn compared_countries(
    ctx: &Context<'_>,
    countries: &[String],
) -> Result<Vec<String>> {
    if countries.len() < 2 {
        return Err(
            ApiError::bad_input("`countries` must name at least two countries to compare")
                .into_graphql(),
        );
    }
    let codes = codes_of(ctx, countries).await?;
    for (i, code) in codes.iter().enumerate() {
        if let Some(j) = codes[..i].iter().position(|c| c == code) {
            return Err(ApiError::bad_input(format!(
                "`countries` names {code} twice ({:?} and {:?})",
                countries[j], countries[i]
            ))
            .into_graphql());
        }
    }
    Ok(codes)
}

/// Resolves at most [`MAX_COUNTRIES`] codes to ISO3 codes, in the order given.
pub(crate) async fn codes_of(ctx: &Context<'_>, codes: &[String]) -> Result<Vec<String>> {
    if codes.len() > MAX_COUNTRIES {
        return Err(
            ApiError::bad_input(format!("at most {MAX_COUNTRIES} countries at once"))
                .into_graphql(),
        );
    }
    Ok(arguments::countries(ctx, codes)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect())
}

/// Compares `metric` across `codes` (resolved, at least two): the values of `year` (or the
/// latest), from the preferred source for each year or the one pinned, as known now or at
/// `as_of`.
pub(crate) async fn comparison(
    store: &Store,
    metric: &Metric,
    codes: &[String],
    year: Option<i32>,
    source: Option<String>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Comparison> {
    let picked = if year.is_none() && source.is_none() && as_of.is_none() {
        // The latest current values: one index probe per country.
        let preference = SourcePreference::from_metrics(store.source_preference(), [&metric.0]);
        store
            .latest_values(
                Some(std::slice::from_ref(&metric.0.slug)),
                Some(codes),
                &preference,
            )
            .await
            .or_gql()?
    } else {
        yearly(store, metric, codes, source, as_of).await?
    };
    let entries: Vec<ComparisonEntry> = codes
        .iter()
        .map(|code| {
            let series: Vec<&observation::Model> =
                picked.iter().filter(|o| &o.country == code).collect();
            let chosen = choose_year(&series, year).cloned();
            ComparisonEntry {
                country_code: code.clone(),
                value: chosen.as_ref().and_then(|o| o.value),
                year_used: chosen.as_ref().map(|o| o.year),
                observation: chosen.map(Observation),
            }
        })
        .collect();
    let ratio = match (entries[0].value, entries[1].value) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    };
    let valued: Vec<(&str, Option<f64>)> = entries
        .iter()
        .map(|e| (e.country_code.as_str(), e.value))
        .collect();
    let leader_code = leader(&valued, metric.0.higher_is_better).map(str::to_owned);
    let same_year = year.is_some() && entries.iter().all(|e| e.year_used == year);
    Ok(Comparison {
        metric_slug: metric.0.slug.clone(),
        year,
        entries,
        ratio,
        leader_code,
        same_year,
    })
}

/// One value per country and year (the preferred source's, or the pinned one's), ordered by
/// year, as known now or at `as_of`.
pub(crate) async fn yearly(
    store: &Store,
    metric: &Metric,
    codes: &[String],
    source: Option<String>,
    as_of: Option<DateTime<Utc>>,
) -> Result<Vec<observation::Model>> {
    let rows = store
        .observations(&ObservationFilter {
            metric: metric.0.slug.clone(),
            countries: Some(codes.to_vec()),
            source,
            as_of,
            ..Default::default()
        })
        .await
        .or_gql()?;
    Ok(metric.pick(store, rows))
}

/// The requested year if present, else the nearest earlier year, else the nearest later one;
/// the latest year when no year is requested. `series` is ordered by year.
fn choose_year<'a>(
    series: &[&'a observation::Model],
    year: Option<i32>,
) -> Option<&'a observation::Model> {
    match year {
        None => series.last().copied(),
        Some(year) => series
            .iter()
            .rev()
            .find(|o| o.year <= year)
            .or_else(|| series.iter().find(|o| o.year > year))
            .copied(),
    }
}

/// The country in the stronger position; `None` on a tie or with fewer than two values.
pub(crate) fn leader<'a>(
    values: &[(&'a str, Option<f64>)],
    higher_is_better: bool,
) -> Option<&'a str> {
    let mut valued: Vec<(&str, f64)> = values
        .iter()
        .filter_map(|(code, value)| value.map(|v| (*code, v)))
        .collect();
    if valued.len() < 2 {
        return None;
    }
    valued.sort_by(|a, b| {
        let order = a.1.total_cmp(&b.1);
        if higher_is_better {
            order.reverse()
        } else {
            order
        }
    });
    (valued[0].1 != valued[1].1).then_some(valued[0].0)
}
