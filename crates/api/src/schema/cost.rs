//! What an operation can return, estimated before it runs: the number of list items in its
//! answer ("nodes", as GitHub's GraphQL API counts them).
//!
//! Each list field multiplies what is selected under it by its length: a connection's `edges`
//! by the page size (`first`, from the query, a variable or the argument's default), a yearly
//! series by the years asked for (`from`..`to`), and every other list by an estimate of how long
//! it can be ([`estimate`]). Objects and scalars under a list are not nodes themselves, but they
//! carry the multiplier down: `countries { companies { country { companies { name } } } }`
//! is 50 + 50×20 + 50×20×20 nodes. Fragments (named and inline) are walked where they are
//! spread, and each alias is a field of its own. `@skip` and `@include` are not evaluated:
//! the estimate is of what the text may ask for.
//!
//! The walk visits each selection of the document with its fragments expanded, which the guard
//! has already bounded ([`super::document::expanded_size`]).

use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::registry::{MetaField, MetaType, MetaTypeName, Registry};
use async_graphql::{Value as ConstValue, Variables};
use std::collections::HashMap;

/// Rows a list of countries is assumed to have (every country the service may compare).
const COUNTRIES: u64 = 50;
/// Years a series is assumed to cover when `from` or `to` is not given.
const YEARS: u64 = 50;
/// Sources publishing one figure.
const SOURCES: u64 = 5;
/// Any list not named in [`estimate`].
const DEFAULT_LIST: u64 = 100;

/// The length assumed for the list field `ty.field`, given its arguments and those of the
/// field above it (`edges` takes its connection's `first`, `entries` its comparison's
/// `countries`).
fn estimate(ty: &str, field: &str, args: &Args, parent: &Args) -> u64 {
    let years = || match (args.int("from"), args.int("to")) {
        (Some(from), Some(to)) => u64::try_from(to.saturating_sub(from).saturating_add(1))
            .unwrap_or(0)
            .min(YEARS * 10),
        _ => YEARS,
    };
    match (ty, field) {
        (_, "edges") => parent.count("first").unwrap_or(DEFAULT_LIST),
        ("Query", "countries") | ("Metric", "latestByCountry") => COUNTRIES,
        ("Query", "sectors") => 30,
        ("Query" | "DataChange", "metrics") => 100,
        ("Query" | "Metric", "sources") | ("Metric", "sourcePreference") => 10,
        ("Query", "schedules") => 50,
        ("Query", "observations") => years()
            .saturating_mul(args.count("countries").unwrap_or(COUNTRIES))
            .saturating_mul(SOURCES),
        ("Metric", "series") => years(),
        ("Comparison", "entries") => parent.count("countries").unwrap_or(2),
        ("Country" | "Sector", "companies") => 20,
        ("Country", "highlights") => 10,
        ("Company", "sectors" | "sectorLinks") => 5,
        ("Company", "provenance") => 4,
        ("Sector", "companyLinks") => 20,
        ("Sector", "evidence" | "verdictHistory") => 10,
        // Indicators × years, spans of one year at worst.
        ("Sector", "leaderHistory") => 10 * YEARS,
        ("Observation", "history") => 10,
        _ => DEFAULT_LIST,
    }
}

/// The estimated number of nodes `operation` returns; stops counting (saturating) past `u64`.
pub(crate) fn nodes(
    registry: &Registry,
    doc: &ExecutableDocument,
    operation: &OperationDefinition,
    variables: &Variables,
) -> u64 {
    let root = match operation.ty {
        OperationType::Query => Some(registry.query_type.as_str()),
        OperationType::Mutation => registry.mutation_type.as_deref(),
        OperationType::Subscription => registry.subscription_type.as_deref(),
    };
    let Some(root) = root else { return 0 };
    let defaults: HashMap<&str, &ConstValue> = operation
        .variable_definitions
        .iter()
        .filter_map(|d| {
            d.node
                .default_value
                .as_ref()
                .map(|v| (d.node.name.node.as_str(), &v.node))
        })
        .collect();
    let walk = Walk {
        registry,
        doc,
        variables,
        defaults,
    };
    walk.set(root, &operation.selection_set.node, &Args::default())
}

struct Walk<'a> {
    registry: &'a Registry,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    /// Default values of the operation's variables.
    defaults: HashMap<&'a str, &'a ConstValue>,
}

impl<'a> Walk<'a> {
    /// Nodes under one object of type `ty` selecting `set`; `parent` are the arguments of the
    /// field that returned the object.
    fn set(&self, ty: &str, set: &'a SelectionSet, parent: &Args) -> u64 {
        set.items.iter().fold(0u64, |total, selection| {
            let nodes = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let name = field.name.node.as_str();
                    // Unknown fields and `__typename` are validation's business; no nodes.
                    let Some(meta) = self
                        .registry
                        .concrete_type_by_name(ty)
                        .and_then(|t| t.field_by_name(name))
                    else {
                        return total;
                    };
                    let args = Args::resolve(self, field, meta);
                    let child_type = MetaTypeName::concrete_typename(&meta.ty);
                    let below = self.set(child_type, &field.selection_set.node, &args);
                    if MetaTypeName::create(&meta.ty).is_list() {
                        let length = if ty.starts_with("__") {
                            self.introspection_length(name)
                        } else {
                            estimate(ty, name, &args, parent)
                        };
                        length.saturating_mul(below.saturating_add(1))
                    } else {
                        below
                    }
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let on = inline
                        .type_condition
                        .as_ref()
                        .map_or(ty, |c| c.node.on.node.as_str());
                    self.set(on, &inline.selection_set.node, parent)
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => self.set(
                            fragment.node.type_condition.node.on.node.as_str(),
                            &fragment.node.selection_set.node,
                            parent,
                        ),
                        None => 0,
                    }
                }
            };
            total.saturating_add(nodes)
        })
    }

    /// The length of an introspection list, from the schema itself: its longest such list.
    fn introspection_length(&self, field: &str) -> u64 {
        let registry = self.registry;
        let longest =
            |f: &dyn Fn(&MetaType) -> usize| registry.types.values().map(f).max().unwrap_or(0);
        let count = match field {
            "types" => registry.types.len(),
            "directives" => registry.directives.len(),
            "locations" => 20,
            "fields" | "inputFields" | "enumValues" => longest(&|t| match t {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => {
                    fields.len()
                }
                MetaType::InputObject { input_fields, .. } => input_fields.len(),
                MetaType::Enum { enum_values, .. } => enum_values.len(),
                _ => 0,
            }),
            "args" => longest(&|t| {
                t.fields()
                    .and_then(|fields| fields.values().map(|f| f.args.len()).max())
                    .unwrap_or(0)
            })
            .max(
                registry
                    .directives
                    .values()
                    .map(|d| d.args.len())
                    .max()
                    .unwrap_or(0),
            ),
            "interfaces" | "possibleTypes" => registry.types.len(),
            _ => DEFAULT_LIST as usize,
        };
        count as u64
    }
}

/// A field's arguments that sizes depend on, with variables and defaults applied.
#[derive(Default)]
struct Args {
    values: HashMap<String, ConstValue>,
}

impl Args {
    fn resolve(walk: &Walk<'_>, field: &Field, meta: &MetaField) -> Self {
        let mut values = HashMap::new();
        for (name, value) in &field.arguments {
            let value = value
                .node
                .clone()
                .into_const_with(|variable| {
                    walk.variables
                        .get(&variable)
                        .or_else(|| walk.defaults.get(variable.as_str()).copied())
                        .cloned()
                        .ok_or(())
                })
                .ok();
            if let Some(value) = value {
                values.insert(name.node.to_string(), value);
            }
        }
        // Arguments left out take their schema default (`first: Int! = 20`).
        for (name, input) in &meta.args {
            if values.contains_key(name) {
                continue;
            }
            if let Some(default) = input
                .default_value
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .and_then(|json| ConstValue::from_json(json).ok())
            {
                values.insert(name.clone(), default);
            }
        }
        Args { values }
    }

    fn int(&self, name: &str) -> Option<i64> {
        match self.values.get(name) {
            Some(ConstValue::Number(n)) => n.as_i64(),
            _ => None,
        }
    }

    /// A count the argument gives: a non-negative integer, or the length of a list.
    fn count(&self, name: &str) -> Option<u64> {
        match self.values.get(name)? {
            ConstValue::Number(n) => Some(n.as_i64().map_or(u64::MAX, |n| n.max(0) as u64)),
            ConstValue::List(items) => Some(items.len() as u64),
            _ => None,
        }
    }
}
