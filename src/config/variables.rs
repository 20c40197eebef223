//! The environment variables, as `--help` lists them and as the README's table documents them.
//!
//! Their one declaration is [`command`](super::command), by concern: the name (clap's `env`),
//! the default, the bounds and a line of help. Loading parses through it, [`help`] renders it, and
//! the tests below hold the README's configuration table (written for people, with more words)
//! to it: the same variables, and each default the README states in backticks is the declared
//! one and what loading uses when the variable is unset.

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

/// A declared variable: its name, its default (`None`: unset means none), its help line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub default: Option<String>,
    pub help: String,
}

/// Every variable configuration loading reads, in declaration order.
pub fn declared() -> Vec<Declared> {
    super::command()
        .get_arguments()
        .filter_map(|arg| {
            let name = arg.get_env()?.to_str()?.to_owned();
            let default = arg
                .get_default_values()
                .first()
                .map(|d| d.to_string_lossy().into_owned());
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            Some(Declared {
                name,
                default,
                help,
            })
        })
        .collect()
}

/// The names of [`declared`].
pub fn read_by_loading() -> Vec<String> {
    declared().into_iter().map(|v| v.name).collect()
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

/// The environment section of `--help`, rendered from the declaration: each variable with its
/// default (when it has one) and its help line.
pub fn help() -> String {
    let mut help = String::from(
        "Environment variables (read once at start-up; a bad value stops the program, exit code 2):",
    );
    for variable in declared() {
        help.push_str("\n  ");
        help.push_str(&variable.name);
        if let Some(default) = &variable.default {
            help.push_str(&format!("  [default: {default}]"));
        }
        help.push_str("\n          ");
        help.push_str(&variable.help);
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
            "declared in src/config/ but missing from the README's configuration table: {undocumented:?}"
        );
        let unread: Vec<&String> = documented.iter().filter(|n| !read.contains(n)).collect();
        assert!(
            unread.is_empty(),
            "in the README's configuration table but not declared in src/config/: {unread:?}"
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
    fn the_readme_states_each_declared_default_and_no_other() {
        let declared = declared();
        for row in documented() {
            let Some(variable) = declared.iter().find(|v| v.name == row.name) else {
                continue;
            };
            assert_eq!(
                row.default_value, variable.default,
                "{}: the README's default (`{}`) is not the declared one",
                row.name, row.default
            );
        }
    }

    #[test]
    fn every_variable_is_declared_once_with_a_line_of_help() {
        let declared = declared();
        for variable in &declared {
            assert!(!variable.help.is_empty(), "{} has no help", variable.name);
            let times = declared.iter().filter(|v| v.name == variable.name).count();
            assert_eq!(times, 1, "{} is declared {times} times", variable.name);
        }
    }

    #[test]
    fn markdown_is_reduced_to_plain_text() {
        assert_eq!(
            plain("see [Operations](#operations), `x`"),
            "see Operations, x"
        );
    }
}
