//! Technology sectors, who leads them, and the companies active in them.

use super::provenance::{self, CompanyFact, FactProvenance, SectorLink};
use super::sector_evidence::{self, LeadershipSpan, SectorEvidence, SectorVerdict};
use super::{country_or_none, loaders, required, Country, Source};
use crate::loaders::{CompaniesOfSector, CountryCode, SectorsOfCompany};
use async_graphql::{Context, Enum, Object, Result};
use chrono::{DateTime, Utc};
use techbalance_store::entities::{company, sector};

/// Who leads a technology sector.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "sector::SectorLeader")]
pub enum SectorLeader {
    Us,
    China,
    Contested,
    UsAndAllies,
}

pub struct Sector(pub sector::Model);

/// A technology sector and who leads it.
#[Object]
impl Sector {
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The editorial verdict (see `verdict` for its versions and `evidence` to check it).
    async fn leader(&self) -> SectorLeader {
        self.0.leader.into()
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Companies active in the sector, by name.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let rows =
            crate::loaders::lookup(loaders(ctx), CompaniesOfSector(self.0.slug.clone())).await?;
        Ok(rows.unwrap_or_default().into_iter().map(Company).collect())
    }
    // Provenance, evidence and history: see types/provenance.rs and types/sector_evidence.rs.
    /// Where the verdict comes from; null: unsourced (see `sourced`).
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
    /// Whether the verdict has a citation.
    async fn sourced(&self) -> bool {
        self.0.citation.is_some()
    }
    /// The dataset the verdict was loaded from; null: unsourced.
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Source>> {
        provenance::source_of(ctx, self.0.citation.as_deref()).await
    }
    /// The companies active in the sector, each link with where it comes from.
    async fn company_links(&self, ctx: &Context<'_>) -> Result<Vec<SectorLink>> {
        provenance::links(ctx, crate::loaders::LinksOfSector(self.0.slug.clone())).await
    }
    /// The sector's evidence indicators, each compared across `countries` exactly as `compare`
    /// would (latest values; as known now, or at `asOf`). Empty when the baseline names none.
    async fn evidence(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "sector_evidence::default_countries()",
            desc = "ISO3 or ISO2 codes, at least two"
        )]
        countries: Vec<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<SectorEvidence>> {
        sector_evidence::evidence(ctx, &self.0.slug, &countries, as_of).await
    }
    /// The country leading on the most evidence indicators; null when the evidence is split
    /// (a shared lead) or missing (no indicator has a leader).
    async fn evidence_leader(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "sector_evidence::default_countries()",
            desc = "ISO3 or ISO2 codes, at least two"
        )]
        countries: Vec<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Option<Country>> {
        let items = sector_evidence::evidence(ctx, &self.0.slug, &countries, as_of).await?;
        country_or_none(ctx, sector_evidence::evidence_leader(&items).as_deref()).await
    }
    /// Whether `evidenceLeader` agrees with the verdict current at `asOf` (`US`: the United
    /// States; `CHINA`: China; `US_AND_ALLIES`: any country but China; `CONTESTED`: never a
    /// single leader); null when there is no evidence leader or no verdict at `asOf`.
    async fn agrees_with_verdict(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "sector_evidence::default_countries()",
            desc = "ISO3 or ISO2 codes, at least two"
        )]
        countries: Vec<String>,
        #[graphql(desc = "The values and verdict as they were known at this instant")]
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<bool>> {
        let items = sector_evidence::evidence(ctx, &self.0.slug, &countries, as_of).await?;
        let Some(leader) = sector_evidence::evidence_leader(&items) else {
            return Ok(None);
        };
        let Some(verdict) = sector_evidence::verdict(ctx, &self.0.slug, as_of).await? else {
            return Ok(None);
        };
        Ok(Some(sector_evidence::agrees(verdict.0.leader, &leader)))
    }
    /// For each evidence indicator, the spans of consecutive years in which the same country
    /// led (years in which every country compared has a value), oldest first.
    async fn leader_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "sector_evidence::default_countries()",
            desc = "ISO3 or ISO2 codes, at least two"
        )]
        countries: Vec<String>,
        #[graphql(desc = "The values as they were known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Vec<LeadershipSpan>> {
        sector_evidence::leader_history(ctx, &self.0.slug, &countries, as_of).await
    }
    /// The editorial verdict as it stood at `asOf` (now when omitted); null before the first
    /// version was recorded.
    async fn verdict(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The verdict as it was known at this instant")] as_of: Option<
            DateTime<Utc>,
        >,
    ) -> Result<Option<SectorVerdict>> {
        sector_evidence::verdict(ctx, &self.0.slug, as_of).await
    }
    /// Every version of the editorial verdict, oldest first.
    async fn verdict_history(&self, ctx: &Context<'_>) -> Result<Vec<SectorVerdict>> {
        sector_evidence::verdicts(ctx, &self.0.slug).await
    }
}

/// How a company is owned and steered.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "company::Ownership")]
pub enum Ownership {
    /// Privately or publicly held, run for profit.
    Private,
    /// A national champion operating under state supervision.
    StateSupervised,
}

pub struct Company(pub company::Model);

/// A technology company.
#[Object]
impl Company {
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn country(&self, ctx: &Context<'_>) -> Result<Country> {
        required(ctx, CountryCode(self.0.country.clone()))
            .await
            .map(Country)
    }
    async fn sectors(&self, ctx: &Context<'_>) -> Result<Vec<Sector>> {
        let rows =
            crate::loaders::lookup(loaders(ctx), SectorsOfCompany(self.0.slug.clone())).await?;
        Ok(rows.unwrap_or_default().into_iter().map(Sector).collect())
    }
    async fn ownership(&self) -> Ownership {
        self.0.ownership.into()
    }
    async fn founded(&self) -> Option<i32> {
        self.0.founded
    }
    async fn headquarters(&self) -> Option<&str> {
        self.0.headquarters.as_deref()
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Whether the company's listing (name, country) has a citation; see `provenance` for each
    /// fact.
    async fn sourced(&self) -> bool {
        self.0.citation.is_some()
    }
    /// The dataset the company's listing was loaded from; null: unsourced.
    async fn source(&self, ctx: &Context<'_>) -> Result<Option<Source>> {
        provenance::source_of(ctx, self.0.citation.as_deref()).await
    }
    /// Where the company's listing (name, country) comes from; null: unsourced.
    async fn citation(&self) -> Option<&str> {
        self.0.citation.as_deref()
    }
    /// Where each fact (listing, ownership, founding year, headquarters) comes from; a fact
    /// without a citation is listed with `sourced: false`.
    async fn provenance(&self) -> Vec<FactProvenance> {
        let c = &self.0;
        [
            (CompanyFact::Listing, &c.citation),
            (CompanyFact::Ownership, &c.ownership_citation),
            (CompanyFact::Founded, &c.founded_citation),
            (CompanyFact::Headquarters, &c.headquarters_citation),
        ]
        .into_iter()
        .map(|(fact, citation)| FactProvenance {
            fact,
            citation: citation.clone(),
        })
        .collect()
    }
    /// The sectors the company is active in, each link with where it comes from.
    async fn sector_links(&self, ctx: &Context<'_>) -> Result<Vec<SectorLink>> {
        provenance::links(ctx, crate::loaders::LinksOfCompany(self.0.slug.clone())).await
    }
}
