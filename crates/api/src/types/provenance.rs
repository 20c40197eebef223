//! Where each curated fact comes from. Reference data (sector verdicts, companies, their sector
//! links, highlights) are loaded from the curated baseline; a fact the baseline cites carries
//! that source and the citation, and a fact it does not cite says so (`sourced: false`, null
//! source and citation) instead of passing as sourced.

use super::{loaders, required, Company, Sector, Source};
use crate::loaders::{CompanySlug, SectorSlug, SourceId};
use async_graphql::{Context, Enum, Object, Result};
use techbalance_store::entities::company_sector;
use techbalance_store::reference::REFERENCE_SOURCE;

/// The source of a fact with a citation (the curated baseline); `None` for an unsourced fact.
pub(crate) async fn source_of(ctx: &Context<'_>, citation: Option<&str>) -> Result<Option<Source>> {
    match citation {
        Some(_) => required(ctx, SourceId(REFERENCE_SOURCE.to_owned()))
            .await
            .map(|s| Some(Source(s))),
        None => Ok(None),
    }
}

/// A fact about a company.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum CompanyFact {
    /// Its name and country (that it is one of the country's tech leaders).
    Listing,
    Ownership,
    Founded,
    Headquarters,
}

/// Where one fact about a company comes from.
pub struct FactProvenance {
    pub fact: CompanyFact,
    pub citation: Option<String>,
}

#[Object]
impl FactProvenance {
    async fn fact(&self) -> CompanyFact {
        self.fact
    }
    /// Whether the fact has a citation.
    async fn sourced(&self) -> bool {
        self.citation.is_some()
    }
    /// The dataset the fact was loaded from; null: unsourced.
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Source>> {
        source_of(ctx, self.citation.as_deref()).await
    }
    /// The work cited for the fact; null: unsourced.
    async fn citation(&self) -> Option<&str> {
        self.citation.as_deref()
    }
}

pub struct SectorLink(pub company_sector::Model);

/// A company's activity in a sector, with where that link comes from.
#[Object]
impl SectorLink {
    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        required(ctx, CompanySlug(self.0.company.clone()))
            .await
            .map(Company)
    }
    async fn sector(&self, ctx: &Context<'_>) -> Result<Sector> {
        required(ctx, SectorSlug(self.0.sector.clone()))
            .await
            .map(Sector)
    }
    /// Whether the link has a citation; false for an editorial assignment.
    async fn sourced(&self) -> bool {
        self.0.citation.is_some()
    }
    /// The dataset the link was loaded from; null: unsourced.
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Source>> {
        source_of(ctx, self.0.citation.as_deref()).await
    }
    /// The work cited for the link; null: unsourced.
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
}

/// The links of a company, or of a sector, from the per-request snapshot.
pub(crate) async fn links<K>(ctx: &Context<'_>, key: K) -> Result<Vec<SectorLink>>
where
    K: crate::loaders::FromSnapshot,
    crate::loaders::StoreLoader: async_graphql::dataloader::Loader<
        K,
        Value = Vec<company_sector::Model>,
        Error = async_graphql::Error,
    >,
{
    Ok(crate::loaders::lookup(loaders(ctx), key)
        .await?
        .unwrap_or_default()
        .into_iter()
        .map(SectorLink)
        .collect())
}
