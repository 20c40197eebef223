//! Where each public source is fetched from: one variable per source, defaulting to the source's
//! own base URL (declared by the source module in the worker crate). The list below is the only
//! part of the configuration that names sources.
//!
//! `TECHBALANCE_WORLDBANK_URL`, `TECHBALANCE_OECD_URL`.

use clap::{Arg, ArgMatches, Command};
use std::collections::BTreeMap;
use techbalance_worker::sources::{oecd, worldbank};

/// A source's base URL: its id, the variable that sets it, its default, a line of help.
struct BaseUrl {
    source: &'static str,
    variable: &'static str,
    default: &'static str,
    help: &'static str,
}

const BASE_URLS: [BaseUrl; 2] = [
    BaseUrl {
        source: worldbank::SOURCE_ID,
        variable: "TECHBALANCE_WORLDBANK_URL",
        default: worldbank::DEFAULT_BASE_URL,
        help: "World Bank Indicators API base URL",
    },
    BaseUrl {
        source: oecd::SOURCE_ID,
        variable: "TECHBALANCE_OECD_URL",
        default: oecd::DEFAULT_BASE_URL,
        help: "OECD SDMX REST base URL",
    },
];

/// `command` with one argument per source's base-URL variable.
pub fn declare(command: Command) -> Command {
    command.args(BASE_URLS.iter().map(|url| {
        Arg::new(url.source)
            .long(url.variable)
            .env(url.variable)
            .default_value(url.default)
            .value_parser(base_url)
            .help(url.help)
    }))
}

/// The base URL of each source, by source id.
pub fn base_urls(matches: &ArgMatches) -> BTreeMap<String, String> {
    BASE_URLS
        .iter()
        .filter_map(|url| {
            let value = matches.get_one::<String>(url.source)?;
            Some((url.source.to_owned(), value.clone()))
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
