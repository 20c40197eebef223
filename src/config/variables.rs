//! The environment variables, as `--help` lists them.
//!
//! The set of variables has one home: configuration loading itself. [`read_by_loading`] asks
//! [`Config::from_lookup`](super::Config::from_lookup) which variables it reads, so a variable
//! added there is listed without further work. Their defaults and meanings, written for people,
//! have one home too: the README's configuration table, compiled in. Tests check that the two
//! agree: the same variables, and each default the README states in backticks is what loading
//! uses when the variable is unset.

use std::cell::RefCell;

const README: &str = include_str!("../../README.md");

/// A row of the README's configuration table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Documented {
    pub name: String,
    /// The default as written, without markup (`10`, `none`, `bundled`).
    pub default: String,
    /// `Some` when the README states the default as a value (in backticks): setting the variable
    /// to it changes nothing. `None` for a description such as "none" (unset).
    pub default_value: Option<String>,
    pub meaning: String,
}

/// Every variable configuration loading reads, in the order it reads them.
pub fn read_by_loading() -> Vec<String> {
    let names = RefCell::new(Vec::<String>::new());
    // With nothing set, loading cannot fail, and reads every variable it knows.
    let _ = super::Config::from_lookup(|name| {
        let mut names = names.borrow_mut();
        if !names.iter().any(|known| known == name) {
            names.push(name.to_owned());
        }
        None
    });
    names.into_inner()
}

/// The rows of the README's configuration table (`## Configuration`), in order.
pub fn documented() -> Vec<Documented> {
    let mut in_section = false;
    let mut rows = Vec::new();
    for line in README.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            in_section = heading.trim() == "Configuration";
            continue;
        }
        if !in_section || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        if let [name, default, meaning @ ..] = cells.as_slice() {
            let default_value = default
                .strip_prefix('`')
                .and_then(|d| d.strip_suffix('`'))
                .map(str::to_owned);
            rows.push(Documented {
                name: plain(name),
                default: plain(default),
                default_value,
                meaning: plain(&meaning.join(" | ")),
            });
        }
    }
    rows
}

/// The environment section of `--help`: every variable loading reads, with its default and
/// meaning from the README.
pub fn help() -> String {
    let documented = documented();
    let mut help = String::from(
        "Environment variables (read once at start-up; a bad value stops the program, exit code 2):",
    );
    for row in &documented {
        help.push_str(&format!(
            "\n  {}  [default: {}]\n          {}",
            row.name, row.default, row.meaning
        ));
    }
    for name in read_by_loading() {
        if !documented.iter().any(|row| row.name == name) {
            help.push_str(&format!("\n  {name}"));
        }
    }
    help
}

/// Markdown table text as plain text: no backticks, links reduced to their text.
fn plain(markdown: &str) -> String {
    let mut text = markdown.replace('`', "");
    while let Some(open) = text.find("](") {
        let Some(close) = text[open..].find(')').map(|i| open + i) else {
            break;
        };
        let Some(start) = text[..open].rfind('[') else {
            break;
        };
        let label = text[start + 1..open].to_owned();
        text.replace_range(start..=close, &label);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_readme_documents_exactly_the_variables_loading_reads() {
        let read = read_by_loading();
        let documented: Vec<String> = documented().into_iter().map(|row| row.name).collect();
        assert!(read.len() >= 40, "loading reads only {read:?}");
        let undocumented: Vec<&String> = read.iter().filter(|n| !documented.contains(n)).collect();
        assert!(
            undocumented.is_empty(),
            "read by src/config.rs but missing from the README's configuration table: {undocumented:?}"
        );
        let unread: Vec<&String> = documented.iter().filter(|n| !read.contains(n)).collect();
        assert!(
            unread.is_empty(),
            "in the README's configuration table but not read by src/config.rs when nothing is \
             set (read each variable before any early return: that is how --help finds them): \
             {unread:?}"
        );
    }

    #[test]
    fn every_default_the_readme_states_is_the_value_used_when_the_variable_is_unset() {
        let unset = format!("{:?}", Config::from_lookup(|_| None).expect("defaults"));
        let mut checked = 0;
        for row in documented() {
            let Some(value) = row.default_value else {
                continue;
            };
            let set = Config::from_lookup(|name| (name == row.name).then(|| value.clone()))
                .unwrap_or_else(|e| panic!("the README's default of {} is refused: {e}", row.name));
            assert_eq!(
                format!("{set:?}"),
                unset,
                "{} = `{value}` (the README's default) is not what loading uses when it is unset",
                row.name
            );
            checked += 1;
        }
        assert!(checked >= 40, "only {checked} defaults checked");
    }

    #[test]
    fn markdown_is_reduced_to_plain_text() {
        assert_eq!(
            plain("see [Operations](#operations), `x`"),
            "see Operations, x"
        );
    }
}
