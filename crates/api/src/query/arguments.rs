//! Turning arguments into stored things, or into NOT_FOUND / BAD_USER_INPUT errors.

use crate::error::{did_you_mean, ApiError};
use crate::types::loaders;
use async_graphql::{Context, Result};
use techbalance_store::entities::{country, metric, sector};

/// The country of an ISO3 or ISO2 code, in any case (from the request's reference snapshot).
pub async fn country(ctx: &Context<'_>, code: &str) -> Result<country::Model> {
    let all = loaders(ctx).loader().countries().await?;
    find_country(all, code)
        .cloned()
        .ok_or_else(|| unknown_country_among(all, code))
}

fn find_country<'a>(all: &'a [country::Model], code: &str) -> Option<&'a country::Model> {
    let wanted = code.trim().to_ascii_uppercase();
    all.iter().find(|c| c.code == wanted || c.iso2 == wanted)
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

/// Resolves every code (ISO3 or ISO2, any case), keeping the order given.
pub async fn countries(ctx: &Context<'_>, codes: &[String]) -> Result<Vec<country::Model>> {
    let all = loaders(ctx).loader().countries().await?;
    codes
        .iter()
        .map(|code| {
            find_country(all, code)
                .cloned()
                .ok_or_else(|| unknown_country_among(all, code))
        })
        .collect()
}

pub async fn metric(ctx: &Context<'_>, slug: &str) -> Result<metric::Model> {
    let all = loaders(ctx).loader().metrics().await?;
    if let Some(metric) = all.iter().find(|m| m.slug == slug) {
        return Ok(metric.clone());
    }
    let known = all.iter().map(|m| m.slug.as_str());
    Err(ApiError::not_found_among("metric", slug, known).into_graphql())
}

pub async fn source(ctx: &Context<'_>, id: &str) -> Result<String> {
    let all = loaders(ctx).loader().sources().await?;
    if let Some(source) = all.iter().find(|s| s.id == id) {
        return Ok(source.id.clone());
    }
    let known = all.iter().map(|s| s.id.as_str());
    Err(ApiError::not_found_among("source", id, known).into_graphql())
}

/// The sector of a slug, if there is one.
pub async fn find_sector(ctx: &Context<'_>, slug: &str) -> Result<Option<sector::Model>> {
    let all = loaders(ctx).loader().sectors().await?;
    Ok(all.iter().find(|s| s.slug == slug).cloned())
}

/// NOT_FOUND for a sector slug, suggesting a known one.
pub async fn unknown_sector(ctx: &Context<'_>, slug: &str) -> async_graphql::Error {
    let all = loaders(ctx).loader().sectors().await.unwrap_or_default();
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
