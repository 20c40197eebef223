//! Input coercion before execution, as the GraphQL specification orders it: every variable of
//! the selected operation is coerced to its declared type (CoerceVariableValues), and every
//! literal argument to its argument's type (the "Values of Correct Type" validation rule).
//!
//! async-graphql checks both only loosely before it runs (an `Int` is any integer, a `DateTime`
//! any string) and parses for real inside the resolver, so a value it cannot take becomes a field
//! error with `data: null` instead of a request error. Here each scalar is parsed with
//! async-graphql's own `InputType::parse`, so what passes here parses in the resolver too.
//!
//! A failure is reported as a list of messages; the guard turns them into request errors.

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{
    Directive, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaInputValue, MetaType, MetaTypeName, Registry};
use async_graphql::{InputType, Name, Positioned, Value as ConstValue, Variables};
// The document's values, which may hold variables (async-graphql re-exports only constants).
use async_graphql_value::Value;
use std::collections::HashSet;

/// Where a value comes from: its rules differ for enums (a name in a document, a string in
/// JSON variables).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Literal,
    Variable,
}

/// Coerces the variables `operation` declares; a message per variable that cannot be coerced.
pub(crate) fn variables(
    registry: &Registry,
    operation: &OperationDefinition,
    given: &Variables,
) -> Vec<String> {
    let mut problems = Vec::new();
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        let ty = definition.var_type.node.to_string();
        match given.get(&definition.name.node) {
            None if definition.default_value.is_some() || definition.var_type.node.nullable => {}
            None => problems.push(format!(
                "variable \"${name}\" of required type \"{ty}\" was not provided"
            )),
            Some(ConstValue::Null) if !definition.var_type.node.nullable => problems.push(format!(
                "variable \"${name}\" of non-null type \"{ty}\" must not be null"
            )),
            Some(value) => {
                let value = value.clone().into_value();
                let path = format!("${name}");
                if let Err(problem) = coerce(registry, &ty, &value, Origin::Variable, &path) {
                    problems.push(format!(
                        "variable \"${name}\" got an invalid value {}: {problem}",
                        shown(&value)
                    ));
                }
            }
        }
    }
    problems
}

/// Coerces the literal arguments (and variable defaults) of `operation` and of the fragments it
/// spreads; a message per argument that cannot be coerced. Fields or types the schema does not
/// have are left to validation.
pub(crate) fn literals(
    registry: &Registry,
    doc: &ExecutableDocument,
    operation: &OperationDefinition,
) -> Vec<String> {
    let mut problems = Vec::new();
    for definition in &operation.variable_definitions {
        let definition = &definition.node;
        if let Some(default) = &definition.default_value {
            let ty = definition.var_type.node.to_string();
            let path = format!("${}", definition.name.node);
            let value = default.node.clone().into_value();
            if let Err(problem) = coerce(registry, &ty, &value, Origin::Literal, &path) {
                problems.push(format!(
                    "the default value of \"{path}\" is invalid: {problem}"
                ));
            }
        }
    }
    arguments(registry, doc, operation, |argument, value, owner| {
        if let Err(problem) = coerce(
            registry,
            &argument.ty,
            value,
            Origin::Literal,
            &argument.name,
        ) {
            problems.push(format!(
                "argument \"{}\" of \"{owner}\" has an invalid value {}: {problem}",
                argument.name,
                shown(value)
            ));
        }
    });
    problems
}

/// Values for the variables `operation` declares without a default that the request leaves
/// out, where each is used only as a whole argument and those arguments agree on one default.
///
/// The specification gives such an argument its default; async-graphql passes it null instead,
/// which a non-null argument with a default (`first: Int! = 20`) refuses at run time.
pub(crate) fn argument_defaults(
    registry: &Registry,
    doc: &ExecutableDocument,
    operation: &OperationDefinition,
    given: &Variables,
) -> Vec<(Name, ConstValue)> {
    let missing: Vec<&Name> = operation
        .variable_definitions
        .iter()
        .map(|d| &d.node)
        .filter(|d| d.default_value.is_none() && !given.contains_key(&d.name.node))
        .map(|d| &d.name.node)
        .collect();
    if missing.is_empty() {
        return Vec::new();
    }
    // Per missing variable: the defaults of the arguments it fills, `None` when one has none
    // or it sits inside a list or object.
    let mut defaults: Vec<(&Name, Vec<Option<String>>)> =
        missing.iter().map(|name| (*name, Vec::new())).collect();
    arguments(registry, doc, operation, |argument, value, _| {
        for (name, seen) in &mut defaults {
            if let Value::Variable(variable) = value {
                if variable == *name {
                    seen.push(argument.default_value.clone());
                }
            } else if mentions(value, name) {
                seen.push(None);
            }
        }
    });
    defaults
        .into_iter()
        .filter_map(|(name, seen)| {
            let first = seen.first()?.clone()?;
            if seen.iter().any(|d| d.as_deref() != Some(first.as_str())) {
                return None;
            }
            Some(((*name).clone(), constant(&first)?))
        })
        .collect()
}

/// Whether `value` uses the variable `name` somewhere inside.
fn mentions(value: &Value, name: &Name) -> bool {
    match value {
        Value::Variable(variable) => variable == name,
        Value::List(items) => items.iter().any(|item| mentions(item, name)),
        Value::Object(fields) => fields.values().any(|field| mentions(field, name)),
        _ => false,
    }
}

/// A default value as the registry prints it (GraphQL literal syntax), as a JSON-style variable
/// value: enum values become strings.
fn constant(text: &str) -> Option<ConstValue> {
    let doc = async_graphql::parser::parse_query(format!("{{ f(a: {text}) }}")).ok()?;
    let (_, operation) = doc.operations.iter().next()?;
    let Selection::Field(field) = &operation.node.selection_set.node.items.first()?.node else {
        return None;
    };
    let (_, value) = field.node.arguments.first()?;
    fn enums_as_strings(value: ConstValue) -> ConstValue {
        match value {
            ConstValue::Enum(name) => ConstValue::String(name.to_string()),
            ConstValue::List(items) => {
                ConstValue::List(items.into_iter().map(enums_as_strings).collect())
            }
            ConstValue::Object(fields) => ConstValue::Object(
                fields
                    .into_iter()
                    .map(|(k, v)| (k, enums_as_strings(v)))
                    .collect(),
            ),
            other => other,
        }
    }
    Some(enums_as_strings(value.node.clone().into_const()?))
}

/// Calls `visit(argument, value, owner)` for every argument given in `operation` and the
/// fragments it spreads (fields and directives), with the argument's declaration; arguments the
/// schema does not declare are skipped.
fn arguments<'a>(
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    operation: &'a OperationDefinition,
    visit: impl FnMut(&'a MetaInputValue, &'a Value, &str),
) {
    let mut walk = Walk {
        registry,
        doc,
        visit,
        fragments: HashSet::new(),
    };
    walk.directives(&operation.directives);
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    if let Some(root) = root {
        walk.selection_set(root, &operation.selection_set.node);
    }
}

struct Walk<'a, F> {
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    visit: F,
    fragments: HashSet<&'a str>,
}

impl<'a, F: FnMut(&'a MetaInputValue, &'a Value, &str)> Walk<'a, F> {
    fn selection_set(&mut self, parent: &str, set: &'a SelectionSet) {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    self.directives(&field.directives);
                    let Some(meta) = self
                        .registry
                        .types
                        .get(parent)
                        .and_then(|t| t.field_by_name(&field.name.node))
                    else {
                        continue;
                    };
                    self.arguments(&meta.args, &field.arguments, &field.name.node);
                    let child = MetaTypeName::concrete_typename(&meta.ty);
                    self.selection_set(child, &field.selection_set.node);
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    self.directives(&inline.directives);
                    let parent = inline
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    self.selection_set(parent, &inline.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    self.directives(&spread.node.directives);
                    let name = spread.node.fragment_name.node.as_str();
                    if !self.fragments.insert(name) {
                        continue;
                    }
                    if let Some(fragment) = self.doc.fragments.get(name) {
                        let fragment = &fragment.node;
                        self.directives(&fragment.directives);
                        self.selection_set(
                            fragment.type_condition.node.on.node.as_str(),
                            &fragment.selection_set.node,
                        );
                    }
                }
            }
        }
    }

    fn directives(&mut self, directives: &'a [Positioned<Directive>]) {
        for directive in directives {
            let directive = &directive.node;
            if let Some(meta) = self.registry.directives.get(directive.name.node.as_str()) {
                let owner = format!("@{}", directive.name.node);
                self.arguments(&meta.args, &directive.arguments, &owner);
            }
        }
    }

    /// The arguments `given` to `owner` (a field or `@directive`), against those `declared`.
    fn arguments(
        &mut self,
        declared: &'a IndexMap<String, MetaInputValue>,
        given: &'a [(Positioned<Name>, Positioned<Value>)],
        owner: &str,
    ) {
        for (name, value) in given {
            if let Some(argument) = declared.get(name.node.as_str()) {
                (self.visit)(argument, &value.node, owner);
            }
        }
    }
}

/// Checks `value` against the type `ty` (`[Int!]!` notation). Variables inside a literal are
/// skipped: their own declared type was checked, and validation checks that it fits.
fn coerce(
    registry: &Registry,
    ty: &str,
    value: &Value,
    origin: Origin,
    path: &str,
) -> Result<(), String> {
    if let Value::Variable(_) = value {
        return Ok(());
    }
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => match value {
            Value::Null => Err(at(path, format!("expected a non-null \"{inner}\""))),
            _ => coerce(registry, inner, value, origin, path),
        },
        MetaTypeName::List(inner) => match value {
            Value::Null => Ok(()),
            Value::List(items) => items.iter().enumerate().try_for_each(|(index, item)| {
                coerce(registry, inner, item, origin, &format!("{path}[{index}]"))
            }),
            // A single value stands for a list of one.
            _ => coerce(registry, inner, value, origin, path),
        },
        MetaTypeName::Named(name) => {
            if let Value::Null = value {
                return Ok(());
            }
            match registry.types.get(name) {
                Some(MetaType::Scalar { is_valid, .. }) => {
                    let Some(constant) = value.clone().into_const() else {
                        return Ok(());
                    };
                    let valid = is_valid.as_ref().is_none_or(|is_valid| is_valid(&constant));
                    match scalar(name, constant) {
                        Some(result) => result.map_err(|problem| at(path, problem)),
                        None if valid => Ok(()),
                        None => Err(at(path, format!("expected a \"{name}\""))),
                    }
                }
                Some(MetaType::Enum { enum_values, .. }) => {
                    let given = match (value, origin) {
                        (Value::Enum(given), Origin::Literal) => Some(given.as_str()),
                        (Value::String(given), Origin::Variable) => Some(given.as_str()),
                        _ => None,
                    };
                    match given {
                        Some(given) if enum_values.contains_key(given) => Ok(()),
                        _ => Err(at(
                            path,
                            format!(
                                "\"{name}\" has no value {}; its values are {}",
                                shown(value),
                                enum_values.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        )),
                    }
                }
                Some(MetaType::InputObject {
                    input_fields,
                    oneof,
                    ..
                }) => {
                    let Value::Object(fields) = value else {
                        return Err(at(path, format!("expected an input object \"{name}\"")));
                    };
                    if let Some(unknown) = fields
                        .keys()
                        .find(|k| !input_fields.contains_key(k.as_str()))
                    {
                        return Err(at(path, format!("\"{name}\" has no field \"{unknown}\"")));
                    }
                    if *oneof && (fields.len() != 1 || fields.values().any(|v| *v == Value::Null)) {
                        return Err(at(
                            path,
                            format!("\"{name}\" takes exactly one field, not null"),
                        ));
                    }
                    for (field, meta) in input_fields {
                        let inner = format!("{path}.{field}");
                        match fields.get(field.as_str()) {
                            Some(given) => coerce(registry, &meta.ty, given, origin, &inner)?,
                            None if meta.default_value.is_none()
                                && MetaTypeName::create(&meta.ty).is_non_null() =>
                            {
                                return Err(at(
                                    &inner,
                                    format!("required field of type \"{}\" is missing", meta.ty),
                                ))
                            }
                            None => {}
                        }
                    }
                    Ok(())
                }
                // Output types and unknown names are validation's to report.
                _ => Ok(()),
            }
        }
    }
}

/// Parses a built-in or well-known scalar as its resolver will; `None` for other scalars.
fn scalar(name: &str, value: ConstValue) -> Option<Result<(), String>> {
    fn parse<T: InputType>(value: ConstValue) -> Result<(), String> {
        T::parse(Some(value))
            .map(drop)
            .map_err(|e| e.into_server_error(async_graphql::Pos::default()).message)
    }
    Some(match name {
        "Int" => parse::<i32>(value),
        "Float" => parse::<f64>(value),
        "String" => parse::<String>(value),
        "Boolean" => parse::<bool>(value),
        "ID" => parse::<async_graphql::ID>(value),
        "DateTime" => parse::<chrono::DateTime<chrono::Utc>>(value),
        _ => return None,
    })
}

fn at(path: &str, problem: String) -> String {
    if path.contains(['[', '.']) {
        format!("at \"{path}\", {problem}")
    } else {
        problem
    }
}

/// A value as a message shows it, shortened.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}
