//! Turning arguments into stored things, or into NOT_FOUND / BAD_USER_INPUT errors.

use crate::error::{did_you_mean, ApiError, OrGraphqlError};
use crate::types::store;
use async_graphql::{Context, Result};
use techbalance_store::entities::{country, metric};

pub async fn country(ctx: &Context<'_>, code: &str) -> Result<country::Model> {
    match store(ctx).find_country(code).await.or_gql()? {
        Some(country) => Ok(country),
        None => Err(unknown_country(ctx, code).await),
    }
}

/// NOT_FOUND for a country code, suggesting a known ISO3 code or country name.
async fn unknown_country(ctx: &Context<'_>, code: &str) -> async_graphql::Error {
    let all = store(ctx).countries().await.unwrap_or_default();
    unknown_country_among(&all, code)
}

/// NOT_FOUND for `code`, suggesting the code of the country in `all` whose code or name is
/// closest (`Chna` → `CHN`).
fn unknown_country_among(all: &[country::Model], code: &str) -> async_graphql::Error {
    let known = all.iter().flat_map(|c| [c.code.as_str(), c.name.as_str()]);
    let suggestion = did_you_mean(code, known)
        .and_then(|close| all.iter().find(|c| c.code == close || c.name == close))
        .map(|c| c.code.clone());
    ApiError::NotFound {
        what: "country",
        value: code.to_owned(),
        suggestion,
    }
    .into_graphql()
}

/// Resolves every code (ISO3 or ISO2, any case) with one statement, keeping the order given.
pub async fn countries(ctx: &Context<'_>, codes: &[String]) -> Result<Vec<country::Model>> {
    let all = store(ctx).countries().await.or_gql()?;
    codes
        .iter()
        .map(|code| {
            let wanted = code.trim().to_ascii_uppercase();
            all.iter()
                .find(|c| c.code == wanted || c.iso2 == wanted)
                .cloned()
                .ok_or_else(|| unknown_country_among(&all, code))
        })
        .collect()
}

pub async fn metric(ctx: &Context<'_>, slug: &str) -> Result<metric::Model> {
    if let Some(metric) = store(ctx).find_metric(slug).await.or_gql()? {
        return Ok(metric);
    }
    let all = store(ctx).metrics(None).await.unwrap_or_default();
    let known = all.iter().map(|m| m.slug.as_str());
    Err(ApiError::not_found_among("metric", slug, known).into_graphql())
}

pub async fn source(ctx: &Context<'_>, id: &str) -> Result<String> {
    if let Some(source) = store(ctx).find_source(id).await.or_gql()? {
        return Ok(source.id);
    }
    let all = store(ctx).sources().await.unwrap_or_default();
    let known = all.iter().map(|s| s.id.as_str());
    Err(ApiError::not_found_among("source", id, known).into_graphql())
}

/// NOT_FOUND for a sector slug, suggesting a known one.
pub async fn unknown_sector(ctx: &Context<'_>, slug: &str) -> async_graphql::Error {
    let all = store(ctx).sectors(None).await.unwrap_or_default();
    let known = all.iter().map(|s| s.slug.as_str());
    ApiError::not_found_among("sector", slug, known).into_graphql()
}

/// A pinned source, checked to exist.
pub async fn optional_source(ctx: &Context<'_>, id: Option<String>) -> Result<Option<String>> {
    match id {
        Some(id) => source(ctx, &id).await.map(Some),
        None => Ok(None),
    }
}

/// Years must be plausible and `from <= to`.
pub fn year_range(from: Option<i32>, to: Option<i32>) -> Result<(), ApiError> {
    for year in [from, to].into_iter().flatten() {
        if !(1800..=2200).contains(&year) {
            return Err(ApiError::bad_input(format!(
                "year {year} is out of range (1800–2200)"
            )));
        }
    }
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(ApiError::bad_input(format!(
            "invalid year range: from ({from}) is after to ({to})"
        ))),
        _ => Ok(()),
    }
}
