//! Technology sectors, who leads them, and the companies active in them.

use super::{loaders, required, Country};
use crate::loaders::{CompaniesOfSector, CountryCode, SectorsOfCompany};
use async_graphql::{Context, Enum, Object, Result};
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
    async fn leader(&self) -> SectorLeader {
        self.0.leader.into()
    }
    async fn summary(&self) -> &str {
        &self.0.summary
    }
    /// Companies active in the sector, by name.
    async fn companies(&self, ctx: &Context<'_>) -> Result<Vec<Company>> {
        let rows = loaders(ctx)
            .load_one(CompaniesOfSector(self.0.slug.clone()))
            .await?;
        Ok(rows.unwrap_or_default().into_iter().map(Company).collect())
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
        let rows = loaders(ctx)
            .load_one(SectorsOfCompany(self.0.slug.clone()))
            .await?;
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
}
