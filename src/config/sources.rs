//! Where each public source is fetched from: one variable per source, defaulting to the source's
//! own base URL, both declared by the source's module in the worker crate and listed by its
//! registry (`TECHBALANCE_WORLDBANK_URL`, `TECHBALANCE_OECD_URL`, …). No part of the configuration
//! names a source.

use clap::{Arg, ArgMatches, Command};
use std::collections::BTreeMap;
use techbalance_worker::sources::registry;

/// `command` with one argument per registered source's base-URL variable.
pub fn declare(command: Command) -> Command {
    command.args(registry::base_urls().map(|(spec, url)| {
        let name = spec.reference.map_or(spec.id, |r| r.name);
        Arg::new(spec.id)
            .long(url.variable)
            .env(url.variable)
            .default_value(url.default)
            .value_parser(base_url)
            .help(format!("{name} base URL"))
    }))
}

/// The base URL of each source, by source id.
pub fn base_urls(matches: &ArgMatches) -> BTreeMap<String, String> {
    registry::base_urls()
        .filter_map(|(spec, _)| {
            let value = matches.get_one::<String>(spec.id)?;
            Some((spec.id.to_owned(), value.clone()))
        })
        .collect()
}

/// An http(s) URL, without a trailing slash.
fn base_url(value: &str) -> Result<String, String> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.trim_end_matches('/').to_owned())
    } else {
        Err("not an http(s) URL".to_owned())
    }
}
