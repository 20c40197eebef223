//! One module per source of figures.

pub mod baseline;
