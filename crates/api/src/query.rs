//! Query roots, one per domain, merged into [`QueryRoot`].

mod catalog;
mod companies;
mod figures;
pub(crate) mod resolve;

pub use companies::MAX_PAGE_SIZE;

#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    catalog::CatalogQuery,
    figures::FiguresQuery,
    companies::CompaniesQuery,
);
