//! Hand-written SQL that runs on both backends: written with PostgreSQL's `$n` placeholders and
//! rewritten to SQLite's equivalent `?n` when needed.

use sea_orm::{ActiveEnum, DatabaseBackend, Statement, Value};

pub(crate) fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let text = match backend {
        DatabaseBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, text, values)
}

/// A stored vocabulary value as an SQL string literal (`'queued'`), for statements whose plan
/// should see the constant (a partial index's predicate, for one). The values are the enum's own
/// identifiers, never caller input, and hold no quote.
pub(crate) fn literal<E: ActiveEnum<Value = String>>(value: E) -> String {
    format!("'{}'", value.to_value())
}

/// `$first, $first+1, …` for an `IN (…)` list of `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_from_the_first_position() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn vocabulary_literals_are_quoted_stored_values() {
        use crate::runs::{RunStatus, WaitReason};
        assert_eq!(literal(RunStatus::Queued), "'queued'");
        assert_eq!(literal(WaitReason::RetryAfter), "'retry_after'");
    }

    #[test]
    fn sqlite_statements_use_numbered_question_marks() {
        let stmt = statement(DatabaseBackend::Sqlite, "SELECT $1, $2", vec![]);
        assert_eq!(stmt.sql, "SELECT ?1, ?2");
        let stmt = statement(DatabaseBackend::Postgres, "SELECT $1, $2", vec![]);
        assert_eq!(stmt.sql, "SELECT $1, $2");
    }
}
