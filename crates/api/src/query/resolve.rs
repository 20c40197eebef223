//! Turning arguments into stored things, or into NOT_FOUND / BAD_USER_INPUT errors.

use crate::error::{ApiError, OrGraphqlError};
use crate::types::store;
use async_graphql::{Context, Result};
use techbalance_store::entities::{country, metric};

pub async fn country(ctx: &Context<'_>, code: &str) -> Result<country::Model> {
    store(ctx)
        .find_country(code)
        .await
        .or_gql()?
        .ok_or_else(|| ApiError::not_found("country", code).into_graphql())
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
                .ok_or_else(|| ApiError::not_found("country", code.as_str()).into_graphql())
        })
        .collect()
}

pub async fn metric(ctx: &Context<'_>, slug: &str) -> Result<metric::Model> {
    store(ctx)
        .find_metric(slug)
        .await
        .or_gql()?
        .ok_or_else(|| ApiError::not_found("metric", slug).into_graphql())
}

pub async fn source(ctx: &Context<'_>, id: &str) -> Result<String> {
    store(ctx)
        .find_source(id)
        .await
        .or_gql()?
        .map(|s| s.id)
        .ok_or_else(|| ApiError::not_found("source", id).into_graphql())
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
