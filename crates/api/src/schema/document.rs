//! Cheap measurements of a GraphQL document, taken before async-graphql spends real work on it.
//!
//! [`scan`] reads the text once, without building anything: tokens, aliases, directives and how
//! deeply brackets nest. The parser recurses once per bracket and gives up only past its own
//! call limit (a 200 KiB document of `{ a {` costs it about a quarter of a second); the scan
//! refuses such a document in microseconds. [`expanded_size`] then measures the parsed document
//! with every fragment spread expanded, memoised per fragment: async-graphql's own checks walk
//! fragments inline, which is exponential in a document whose fragments each spread the next one
//! twice (22 such fragments, 889 bytes, take async-graphql 7.2.1 two seconds of CPU to refuse).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use std::collections::HashMap;

/// What [`scan`] counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    pub tokens: usize,
    pub aliases: usize,
    pub directives: usize,
    /// The deepest nesting of `{`, `[` and `(`.
    pub nesting: usize,
}

/// Counts the lexical tokens of `text` (the GraphQL lexical grammar; ignored tokens skipped).
/// An alias is a name followed by `:` inside a selection set (arguments, variable definitions
/// and input objects sit inside parentheses). Malformed text is counted, not rejected: the
/// parser reports it later.
pub(crate) fn scan(text: &str) -> Shape {
    let bytes = text.as_bytes();
    let mut shape = Shape::default();
    // Open brackets, and how many of them are `(` or `[`.
    let mut depth = 0usize;
    let mut value_depth = 0usize;
    let mut stack: Vec<u8> = Vec::new();
    let mut name_pending = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        shape.tokens += 1;
        let was_name = std::mem::replace(&mut name_pending, false);
        match b {
            b'{' | b'[' | b'(' => {
                stack.push(b);
                depth += 1;
                if b != b'{' {
                    value_depth += 1;
                }
                shape.nesting = shape.nesting.max(depth);
                i += 1;
            }
            b'}' | b']' | b')' => {
                if let Some(open) = stack.pop() {
                    depth -= 1;
                    if open != b'{' {
                        value_depth -= 1;
                    }
                }
                i += 1;
            }
            b':' => {
                if was_name && value_depth == 0 && depth > 0 {
                    shape.aliases += 1;
                }
                i += 1;
            }
            b'@' => {
                shape.directives += 1;
                i += 1;
            }
            b'"' => i = skip_string(bytes, i),
            b'.' if bytes[i..].starts_with(b"...") => i += 3,
            b'_' | b'A'..=b'Z' | b'a'..=b'z' => {
                while i < bytes.len() && (bytes[i] == b'_' || bytes[i].is_ascii_alphanumeric()) {
                    i += 1;
                }
                name_pending = true;
            }
            b'-' | b'0'..=b'9' => {
                i += 1;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'.' | b'+' | b'-'))
                {
                    i += 1;
                }
            }
            // Punctuators (`! $ & = |`), a byte-order mark or anything else: one token each.
            _ => i += text[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    shape
}

/// The index just past the string (or block string) starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    if bytes[start..].starts_with(b"\"\"\"") {
        let mut i = start + 3;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\\\"\"\"") {
                i += 4;
            } else if bytes[i..].starts_with(b"\"\"\"") {
                return i + 3;
            } else {
                i += 1;
            }
        }
        return i;
    }
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            // A string ends at the line; the parser reports it unterminated.
            b'\n' | b'\r' => return i,
            _ => i += 1,
        }
    }
    i.min(bytes.len())
}

/// Why [`expanded_size`] stopped.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expansion {
    /// A fragment spreads itself, directly or through others: the names along the cycle.
    Cycle(Vec<String>),
    /// More selections than the limit once fragments are expanded.
    TooLarge,
}

/// The number of selections (fields, spreads and inline fragments) of every operation in `doc`
/// with its fragments expanded, failing past `limit` or on a fragment cycle. Linear in the
/// document: each fragment is measured once.
pub(crate) fn expanded_size(doc: &ExecutableDocument, limit: usize) -> Result<usize, Expansion> {
    let mut sizes = Sizes {
        doc,
        limit,
        done: HashMap::new(),
        path: Vec::new(),
    };
    let mut total = 0usize;
    for (_, operation) in doc.operations.iter() {
        total = total.saturating_add(sizes.selection_set(&operation.node.selection_set.node)?);
        if total > limit {
            return Err(Expansion::TooLarge);
        }
    }
    Ok(total)
}

struct Sizes<'a> {
    doc: &'a ExecutableDocument,
    limit: usize,
    done: HashMap<&'a str, usize>,
    /// The fragments being measured, outermost first.
    path: Vec<&'a str>,
}

impl<'a> Sizes<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<usize, Expansion> {
        let mut total = 0usize;
        for selection in &set.items {
            let size = match &selection.node {
                Selection::Field(field) => self.selection_set(&field.node.selection_set.node)?,
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            total = total.saturating_add(1).saturating_add(size);
            if total > self.limit {
                return Err(Expansion::TooLarge);
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str) -> Result<usize, Expansion> {
        if let Some(size) = self.done.get(name) {
            return Ok(*size);
        }
        if let Some(start) = self.path.iter().position(|n| *n == name) {
            let mut cycle: Vec<String> = self.path[start..].iter().map(|n| n.to_string()).collect();
            cycle.push(name.to_owned());
            return Err(Expansion::Cycle(cycle));
        }
        // An unknown fragment is reported by validation; it adds nothing here.
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(0);
        };
        self.path.push(name);
        let size = self.selection_set(&fragment.node.selection_set.node);
        self.path.pop();
        let size = size?;
        self.done.insert(name, size);
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;

    #[test]
    fn tokens_aliases_directives_and_nesting_are_counted() {
        let shape = scan(
            r#"query Q($c: String = "a:b", $n: Int) @x {
                 usa: country(code: $c) { name, flag @include(if: true) }
                 # a: comment { [ (
                 list(filter: {a: [1, 2], b: """x: { """}) { ...F }
               }"#,
        );
        assert_eq!(shape.aliases, 1);
        assert_eq!(shape.directives, 2);
        assert_eq!(shape.nesting, 4); // { list( { [
                                      // 17 on the first line, 20 on the second, none in the comment, 20 on the fourth, `}`.
        assert_eq!(shape.tokens, 17 + 20 + 20 + 1);
    }

    #[test]
    fn unterminated_strings_and_stray_bytes_do_not_stop_the_scan() {
        let shape = scan("{ a(x: \"open\n) { b } } \u{feff} ~");
        assert!(shape.tokens > 5);
        assert_eq!(scan("").tokens, 0);
        assert_eq!(scan("}}}").nesting, 0);
    }

    #[test]
    fn fragments_are_measured_once_and_cycles_are_named() {
        let doc = parse_query(
            "{ a { ...F ...F } } fragment F on T { b c { ...G } } fragment G on T { d }",
        )
        .expect("parse");
        // a + 2 × (spread + b + c + spread + d)
        assert_eq!(expanded_size(&doc, 100), Ok(11));
        assert_eq!(expanded_size(&doc, 10), Err(Expansion::TooLarge));

        let cyclic = parse_query("{ ...A } fragment A on T { ...B } fragment B on T { x ...A }")
            .expect("parse");
        assert_eq!(
            expanded_size(&cyclic, 1000),
            Err(Expansion::Cycle(vec!["A".into(), "B".into(), "A".into()]))
        );
    }

    #[test]
    fn a_doubling_fragment_chain_is_refused_without_walking_it() {
        let mut text = String::from("{ ...F0 }");
        for i in 0..40 {
            text.push_str(&format!(
                " fragment F{i} on T {{ ...F{} ...F{} }}",
                i + 1,
                i + 1
            ));
        }
        text.push_str(" fragment F40 on T { x }");
        let doc = parse_query(&text).expect("parse");
        assert_eq!(expanded_size(&doc, 5000), Err(Expansion::TooLarge));
    }
}
