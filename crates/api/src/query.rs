//! Query roots, one per domain, merged into [`QueryRoot`].

pub(crate) mod arguments;
mod catalog;
mod companies;
pub(crate) mod compare;
mod figures;
mod runs;

#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    catalog::CatalogQuery,
    figures::FiguresQuery,
    companies::CompaniesQuery,
    runs::RunsQuery,
);
