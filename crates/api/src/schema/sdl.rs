//! The schema printed as the committed `schema/schema.graphql`: fields sorted, two-space indent,
//! one argument per line when any argument has a description, and no definitions of the
//! directives every GraphQL server has built in.
//!
//! async-graphql's printer ([`SDLExportOptions`]) sorts and indents with spaces; what it cannot
//! do is done here, on its output: it puts every argument after the first described one on the
//! line of the one before (`first: Int! = 20,    after: String`), and it prints `@include`,
//! `@skip` and `@specifiedBy`.

use async_graphql::SDLExportOptions;

/// Directives defined by the GraphQL specification; a server's SDL need not restate them.
const BUILT_IN_DIRECTIVES: &[&str] = &["include", "skip", "deprecated", "specifiedBy", "oneOf"];

/// How async-graphql is asked to print.
pub(super) fn options() -> SDLExportOptions {
    SDLExportOptions::new().sorted_fields().use_space_ident()
}

/// async-graphql's SDL, with each argument on a line of its own and without built-in directives.
pub(super) fn tidy(sdl: &str) -> String {
    let indent = " ".repeat(2);
    let argument = format!("{indent}{indent}");
    let mut lines: Vec<String> = Vec::new();
    let mut in_description = false;
    for line in sdl.lines() {
        if line.trim() == "\"\"\"" {
            in_description = !in_description;
            lines.push(line.to_owned());
            continue;
        }
        if in_description {
            lines.push(line.to_owned());
            continue;
        }
        if let Some(name) = line.strip_prefix("directive @") {
            let name = name.split(['(', ' ']).next().unwrap_or_default();
            if BUILT_IN_DIRECTIVES.contains(&name) {
                drop_description(&mut lines);
                continue;
            }
        }
        lines.extend(split_arguments(line, &argument));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// Removes the description block that ends `lines`, if one does.
fn drop_description(lines: &mut Vec<String>) {
    if lines.last().is_some_and(|l| l.trim() == "\"\"\"") {
        lines.pop();
        while let Some(line) = lines.pop() {
            if line.trim() == "\"\"\"" {
                break;
            }
        }
    }
}

/// A field line with arguments run together, split so that each argument starts its own line
/// (at the argument indent the printer already used).
fn split_arguments(line: &str, argument: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = line;
    loop {
        let open = rest.find(&format!("({argument}"));
        let comma = rest.find(&format!(",{argument}"));
        let at = match (open, comma) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => break,
        };
        parts.push(rest[..=at].to_owned());
        rest = &rest[at + 1..];
    }
    parts.push(rest.to_owned());
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_run_together_are_put_on_lines_of_their_own() {
        let printed = concat!(
            "type Query {\n",
            "  compare(    metric: String!,    countries: [String!]! = [\"USA\", \"CHN\"],\n",
            "    \"\"\"\n",
            "    The year,    to compare (a description is left as written)\n",
            "    \"\"\"\n",
            "    year: Int,    source: String\n",
            "  ): Comparison!\n",
            "}\n",
        );
        let tidied = concat!(
            "type Query {\n",
            "  compare(\n",
            "    metric: String!,\n",
            "    countries: [String!]! = [\"USA\", \"CHN\"],\n",
            "    \"\"\"\n",
            "    The year,    to compare (a description is left as written)\n",
            "    \"\"\"\n",
            "    year: Int,\n",
            "    source: String\n",
            "  ): Comparison!\n",
            "}\n",
        );
        assert_eq!(tidy(printed), tidied);
    }

    #[test]
    fn built_in_directives_are_left_out_with_their_descriptions() {
        let printed = "scalar JSON\n\n\"\"\"\nDirects the executor to skip.\n\"\"\"\ndirective @skip(if: Boolean!) on FIELD\ndirective @auth on FIELD\nschema {\n  query: Query\n}\n";
        assert_eq!(
            tidy(printed),
            "scalar JSON\n\ndirective @auth on FIELD\nschema {\n  query: Query\n}\n"
        );
    }

    /// The whole schema as committed: valid SDL, spaces only, no built-in directive, the
    /// conventional root names, and every id (a field or argument named `id` or `…Id`) an `ID`.
    #[test]
    fn the_printed_schema_reads_like_a_spec() {
        use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
        let sdl = crate::sdl();
        assert!(!sdl.contains('\t'), "tabs in the SDL");
        assert!(
            !sdl.contains("Implement the"),
            "a library's placeholder description"
        );
        for name in BUILT_IN_DIRECTIVES {
            assert!(!sdl.contains(&format!("directive @{name}")), "@{name}");
        }
        let document = async_graphql::parser::parse_schema(&sdl).expect("valid SDL");
        let named = |ty: &async_graphql::parser::types::Type| match &ty.base {
            BaseType::Named(name) => name.to_string(),
            BaseType::List(_) => String::new(),
        };
        let is_id = |name: &str| name == "id" || name.ends_with("Id");
        let mut ids = 0;
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let root = |r: &Option<async_graphql::Positioned<async_graphql::Name>>| {
                        r.as_ref().map(|n| n.node.to_string())
                    };
                    let schema = &schema.node;
                    assert_eq!(
                        (
                            root(&schema.query),
                            root(&schema.mutation),
                            root(&schema.subscription)
                        ),
                        (
                            Some("Query".to_owned()),
                            Some("Mutation".to_owned()),
                            Some("Subscription".to_owned())
                        )
                    );
                }
                TypeSystemDefinition::Type(ty) => {
                    let TypeKind::Object(object) = &ty.node.kind else {
                        continue;
                    };
                    for field in &object.fields {
                        let field = &field.node;
                        if is_id(&field.name.node) {
                            ids += 1;
                            assert_eq!(
                                named(&field.ty.node),
                                "ID",
                                "{}.{}",
                                ty.node.name.node,
                                field.name.node
                            );
                        }
                        for argument in &field.arguments {
                            let argument = &argument.node;
                            if is_id(&argument.name.node) {
                                ids += 1;
                                assert_eq!(
                                    named(&argument.ty.node),
                                    "ID",
                                    "{}.{}({})",
                                    ty.node.name.node,
                                    field.name.node,
                                    argument.name.node
                                );
                            }
                        }
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        assert!(ids > 5, "the check saw the ids");
    }
}
