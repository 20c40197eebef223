//! The string escapes of the October 2021 GraphQL specification that async-graphql's parser
//! (7.2) does not know, rewritten before it parses: a braced escape (`\u{1F1E8}`) and a
//! surrogate pair (`\uD83C\uDDE8`) stand for one character, as in graphql-js 16.
//!
//! [`normalise`] rewrites the escapes inside string literals only: comments and block strings
//! (`"""…"""`, where escapes mean nothing) are copied as they are. A character above U+FFFF is
//! written as itself; one in the Basic Multilingual Plane as the `\uXXXX` escape the parser
//! knows, so an escaped quote or control character stays escaped. A surrogate that is not half
//! of a pair, or a braced value that is not a Unicode scalar value, is an [`EscapeError`].

use std::borrow::Cow;

/// An escape the specification does not allow, with where it is (1-based, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EscapeError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `text` with every braced escape and surrogate pair of its string literals rewritten; borrowed
/// when there is none.
pub(crate) fn normalise(text: &str) -> Result<Cow<'_, str>, EscapeError> {
    if !text.contains("\\u") {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Copies `n` bytes of `rest` to the output.
    let copy = |out: &mut String, rest: &mut &str, n: usize| {
        out.push_str(&rest[..n]);
        *rest = &rest[n..];
    };
    while let Some(c) = rest.chars().next() {
        if c == '#' {
            let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
            copy(&mut out, &mut rest, end);
        } else if rest.starts_with("\"\"\"") {
            let n = block_string_len(rest);
            copy(&mut out, &mut rest, n);
        } else if c == '"' {
            copy(&mut out, &mut rest, 1);
            string(text, &mut out, &mut rest)?;
        } else {
            copy(&mut out, &mut rest, c.len_utf8());
        }
    }
    Ok(Cow::Owned(out))
}

/// The length of the block string at the start of `rest`, closing quotes included (all of
/// `rest` when it is not closed).
fn block_string_len(rest: &str) -> usize {
    let mut i = 3;
    while i < rest.len() {
        if rest[i..].starts_with("\\\"\"\"") {
            i += 4;
        } else if rest[i..].starts_with("\"\"\"") {
            return i + 3;
        } else {
            i += rest[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    rest.len()
}

/// Copies a string literal's content and closing quote from `rest` to `out`, rewriting escapes.
/// Stops at the end of the line of an unterminated string (the parser reports it).
fn string(text: &str, out: &mut String, rest: &mut &str) -> Result<(), EscapeError> {
    while let Some(c) = rest.chars().next() {
        match c {
            '"' => {
                out.push('"');
                *rest = &rest[1..];
                return Ok(());
            }
            '\n' | '\r' => return Ok(()),
            '\\' if rest[1..].starts_with('u') => {
                let start = text.len() - rest.len();
                let (written, used) =
                    unicode_escape(rest).map_err(|message| error_at(text, start, message))?;
                match written {
                    Some(character) => push_character(out, character),
                    None => out.push_str(&rest[..used]),
                }
                *rest = &rest[used..];
            }
            '\\' => {
                // Another escape: copied with the character it escapes (the parser checks it).
                let n = 1 + rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..n]);
                *rest = &rest[n..];
            }
            _ => {
                out.push(c);
                *rest = &rest[c.len_utf8()..];
            }
        }
    }
    Ok(())
}

/// Reads the `\u` escape at the start of `rest`: the character it stands for when it must be
/// rewritten (braced, or a surrogate pair), `None` when the parser reads it as it is; and the
/// bytes it takes.
fn unicode_escape(rest: &str) -> Result<(Option<char>, usize), String> {
    let body = &rest[2..];
    if let Some(braced) = body.strip_prefix('{') {
        let close = braced.bytes().take_while(u8::is_ascii_hexdigit).count();
        let digits = &braced[..close];
        let shown = format!("\\u{{{digits}}}");
        if digits.is_empty() {
            return Err("an escape \\u{ needs hex digits between the braces".into());
        }
        if !braced[close..].starts_with('}') {
            return Err(format!("an escape \\u{{{digits} is not closed with }}"));
        }
        let value = u32::from_str_radix(digits, 16)
            .map_err(|_| format!("{shown} is beyond U+10FFFF, the last Unicode code point"))?;
        return match char::from_u32(value) {
            Some(character) => Ok((Some(character), 2 + 1 + close + 1)),
            None if (0xD800..=0xDFFF).contains(&value) => Err(format!(
                "{shown} is a surrogate, not a character: write the character itself, as \\u{{…}} with its code point, or as a \\uXXXX\\uXXXX pair"
            )),
            None => Err(format!("{shown} is beyond U+10FFFF, the last Unicode code point")),
        };
    }
    let Some(value) = hex4(body) else {
        // Malformed: the parser reports it.
        return Ok((None, 2));
    };
    match value {
        0xD800..=0xDBFF => {
            let trailing = body[4..].strip_prefix("\\u").and_then(hex4);
            match trailing {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00);
                    let character = char::from_u32(value).ok_or("not a character")?;
                    Ok((Some(character), 12))
                }
                _ => Err(format!(
                    "\\u{value:04X} is a leading surrogate without its trailing half: a pair like \\u{value:04X}\\uDC00 must follow it, or write the character as \\u{{…}} with its code point"
                )),
            }
        }
        0xDC00..=0xDFFF => Err(format!(
            "\\u{value:04X} is a trailing surrogate without a leading half before it: write the character as \\u{{…}} with its code point, or as a \\uXXXX\\uXXXX pair"
        )),
        _ => Ok((None, 6)),
    }
}

/// The value of four hex digits at the start of `text`.
fn hex4(text: &str) -> Option<u32> {
    let digits = text.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// `character` as the parser reads it back: itself above U+FFFF, its `\uXXXX` escape below.
fn push_character(out: &mut String, character: char) {
    if u32::from(character) > 0xFFFF {
        out.push(character);
    } else {
        out.push_str(&format!("\\u{:04X}", u32::from(character)));
    }
}

/// The error for the escape at byte `offset` of `text`.
fn error_at(text: &str, offset: usize, problem: String) -> EscapeError {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    EscapeError {
        line,
        column,
        message: format!("invalid escape in a string at line {line}, column {column}: {problem}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed_string(query: &str) -> String {
        let text = normalise(query).expect("normalise");
        let doc = async_graphql::parser::parse_query(text.as_ref()).expect("parse");
        let (_, operation) = doc.operations.iter().next().expect("operation");
        let async_graphql::parser::types::Selection::Field(field) =
            &operation.node.selection_set.node.items[0].node
        else {
            panic!("not a field");
        };
        match &field.node.arguments[0].1.node {
            async_graphql_value::Value::String(s) => s.clone(),
            other => panic!("not a string: {other}"),
        }
    }

    #[test]
    fn every_escape_form_gives_the_raw_characters() {
        let raw = "🇨🇳 U+55 ü \" \\ \n é";
        for written in [
            r#"{ f(a: "🇨🇳 U+55 ü \" \\ \n é") }"#,
            r#"{ f(a: "\uD83C\uDDE8\uD83C\uDDF3 U+55 \u00FC \u0022 \u005C \u000A \u00e9") }"#,
            r#"{ f(a: "\u{1F1E8}\u{1F1F3} U+\u{35}5 \u{FC} \u{22} \u{5c} \u{A} \u{0000e9}") }"#,
            r#"{ f(a: "\ud83c\udde8\u{1f1f3} U+55 ü \" \\ \n é") }"#,
        ] {
            assert_eq!(parsed_string(written), raw, "{written}");
        }
    }

    #[test]
    fn comments_block_strings_and_plain_text_are_untouched() {
        let text = "# \\uD83C in a comment\n{ f(a: \"\"\"\\uD83C \\u{1F1E8} \\\"\"\" \"\"\") } # \\u{1F1E8}";
        assert_eq!(normalise(text).expect("normalise"), text);
        assert!(matches!(normalise("{ f(a: \"x\") }"), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn lone_surrogates_and_bad_braces_are_errors_that_say_where_and_why() {
        for (text, line, column, says) in [
            ("{ f(a: \"\\uD83C\") }", 1, 9, "leading surrogate"),
            ("{ f(a: \"\\uD83Cx\\uDDE8\") }", 1, 9, "leading surrogate"),
            ("{\n  f(a: \"é\\uDDE8\") }", 2, 10, "trailing surrogate"),
            ("{ f(a: \"\\u{D83C}\") }", 1, 9, "surrogate"),
            ("{ f(a: \"\\u{110000}\") }", 1, 9, "10FFFF"),
            ("{ f(a: \"\\u{}\") }", 1, 9, "hex digits"),
            ("{ f(a: \"\\u{1F1E8\") }", 1, 9, "not closed"),
        ] {
            let error = normalise(text).expect_err(text);
            assert_eq!((error.line, error.column), (line, column), "{text}");
            assert!(error.message.contains(says), "{text}: {}", error.message);
        }
    }
}
