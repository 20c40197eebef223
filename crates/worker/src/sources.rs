//! One module per source of figures, and the catalogue of public sources the worker knows.

pub mod baseline;

use techbalance_store::entities::source;

/// The public statistics sources, registered on seeding so that their figures can be recorded.
pub fn public_sources() -> Vec<source::Model> {
    vec![
        source::Model {
            id: "worldbank".into(),
            name: "World Bank World Development Indicators".into(),
            homepage: "https://data.worldbank.org/".into(),
            terms: "Creative Commons Attribution 4.0 (CC BY 4.0); https://www.worldbank.org/en/about/legal/terms-of-use-for-datasets".into(),
        },
        source::Model {
            id: "oecd-msti".into(),
            name: "OECD Main Science and Technology Indicators".into(),
            homepage: "https://www.oecd.org/en/data/datasets/main-science-and-technology-indicators.html".into(),
            terms: "OECD terms and conditions; https://www.oecd.org/en/about/terms-conditions.html".into(),
        },
    ]
}
