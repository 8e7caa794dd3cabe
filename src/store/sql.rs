//! SQL pieces every part of the store shares: how times are stored, placeholder lists,
//! the rows of set statements (PostgreSQL arrays, SQLite JSON), and the join that finds a
//! client's last message. A leaf: it uses nothing of the store.

use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

/// Milliseconds since the epoch, the stored form of a time.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The time a stored millisecond count stands for.
pub(crate) fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

pub(crate) fn opt_time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.map(time)
}

/// `$1, $2, …, $n` starting after `offset` placeholders: for `IN (…)` lists of ids.
pub(crate) fn placeholders(offset: usize, n: usize) -> String {
    (1..=n)
        .map(|i| format!("${}", offset + i))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One column of a set statement's rows on PostgreSQL, as an array literal: bound as one
/// text and cast where it is used (`unnest($1::text[], $2::bigint[])`), because sqlx's Any
/// driver binds no arrays. The statement text stays the same whatever the number of rows.
/// Every element is quoted, so no value (a comma, a brace, the word NULL) can read as
/// anything but itself.
///
/// A set statement that reads a table (a join, a lookup) is not kept prepared
/// (`.persistent(false)`), so PostgreSQL plans each run knowing its arrays, and so how many
/// rows come. A plan kept for the connection's life is made while a table is small or its
/// statistics old, and a growing table does not make it again unless the table is
/// analyzed: a join planned as a scan of every session while the store was new went on
/// scanning them as they grew (see the performance log, 2026-11-26); with scans and hash
/// joins turned off, a generic plan made while the queue was empty read the queue's whole
/// primary key in every run (2026-11-27). A set statement that only inserts the arrays'
/// rows has one plan whatever the rows and the tables, so it is kept prepared and planned
/// once per connection: planning it for each run cost 60–140 µs a run.
pub(crate) fn text_array<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> String {
    array_literal(values, |out, v| {
        out.push('"');
        for c in v.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    })
}

/// As [`text_array`], for a column of whole numbers (`$1::bigint[]`).
pub(crate) fn int_array(values: impl IntoIterator<Item = Option<i64>>) -> String {
    array_literal(values, |out, v| out.push_str(&v.to_string()))
}

/// `{a,NULL,b}`, each value written by `element`.
fn array_literal<T>(
    values: impl IntoIterator<Item = Option<T>>,
    element: impl Fn(&mut String, T),
) -> String {
    let mut out = String::from("{");
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match value {
            None => out.push_str("NULL"),
            Some(v) => element(&mut out, v),
        }
    }
    out.push('}');
    out
}

/// `column` among `ids`, as a condition on parameter `$1` and its value: one array
/// (PostgreSQL) or one JSON array (SQLite), so one statement text whatever the count.
pub(crate) fn id_set<'a>(
    sqlite: bool,
    column: &str,
    ids: impl Iterator<Item = &'a str>,
) -> (String, String) {
    if sqlite {
        (
            format!("{column} IN (SELECT value FROM json_each($1))"),
            serde_json::to_string(&ids.collect::<Vec<_>>()).expect("ids serialise"),
        )
    } else {
        (
            format!("{column} = ANY($1::text[])"),
            text_array(ids.map(Some)),
        )
    }
}

/// The rows of a set statement, given column by column: one `FROM` item and its
/// parameters (from `$1`), with one statement text whatever the number of rows. On
/// PostgreSQL each column is one array literal (see [`text_array`]) and the rows come from
/// `unnest`; on SQLite the rows are one JSON array of arrays, read by `json_each`, each
/// value read back by `->>` as SQLite's own text, integer or NULL.
pub(crate) struct SetRows<'a> {
    sqlite: bool,
    names: &'static [&'static str],
    columns: Vec<Column<'a>>,
}

enum Column<'a> {
    Text(Vec<Option<&'a str>>),
    Int(Vec<Option<i64>>),
}

impl<'a> SetRows<'a> {
    /// Rows for a statement on `conn`, with columns named `names`, given in that order by
    /// [`SetRows::text`] and [`SetRows::int`].
    pub(crate) fn new(conn: &AnyConnection, names: &'static [&'static str]) -> Self {
        Self {
            sqlite: conn.backend_name() == "SQLite",
            names,
            columns: Vec::with_capacity(names.len()),
        }
    }

    /// Whether the rows are SQLite's, for a statement SQLite needs written otherwise.
    pub(crate) fn sqlite(&self) -> bool {
        self.sqlite
    }

    /// The next column, of text.
    pub(crate) fn text(mut self, values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        self.columns
            .push(Column::Text(values.into_iter().collect()));
        self
    }

    /// The next column, of whole numbers.
    pub(crate) fn int(mut self, values: impl IntoIterator<Item = Option<i64>>) -> Self {
        self.columns.push(Column::Int(values.into_iter().collect()));
        self
    }

    /// The `FROM` item that reads the rows as `alias(names…)`.
    pub(crate) fn source(&self, alias: &str) -> String {
        let names = self.names;
        if self.sqlite {
            let columns: Vec<String> = (0..names.len())
                .map(|i| format!("value->>{i} AS {}", names[i]))
                .collect();
            format!(
                "(SELECT {} FROM json_each($1)) AS {alias}",
                columns.join(", ")
            )
        } else {
            let arrays: Vec<String> = self
                .columns
                .iter()
                .enumerate()
                .map(|(i, column)| match column {
                    Column::Text(_) => format!("${}::text[]", i + 1),
                    Column::Int(_) => format!("${}::bigint[]", i + 1),
                })
                .collect();
            format!(
                "unnest({}) AS {alias}({})",
                arrays.join(", "),
                names.join(", ")
            )
        }
    }

    /// Binds the rows to `query`, whose text holds [`SetRows::source`].
    pub(crate) fn bind<'q>(
        self,
        query: Query<'q, Any, AnyArguments>,
    ) -> Query<'q, Any, AnyArguments> {
        let rows = self.columns.first().map_or(0, Column::len);
        assert!(
            self.columns.len() == self.names.len() && self.columns.iter().all(|c| c.len() == rows),
            "a set's rows have a value in each of their columns"
        );
        if self.sqlite {
            let json: Vec<Vec<serde_json::Value>> = (0..rows)
                .map(|row| self.columns.iter().map(|c| c.json(row)).collect())
                .collect();
            return query.bind(serde_json::to_string(&json).expect("rows serialise"));
        }
        self.columns
            .into_iter()
            .fold(query, |query, column| match column {
                Column::Text(values) => query.bind(text_array(values)),
                Column::Int(values) => query.bind(int_array(values)),
            })
    }
}

impl Column<'_> {
    fn len(&self) -> usize {
        match self {
            Column::Text(v) => v.len(),
            Column::Int(v) => v.len(),
        }
    }

    fn json(&self, row: usize) -> serde_json::Value {
        match self {
            Column::Text(v) => v[row].map_or(serde_json::Value::Null, |t| t.into()),
            Column::Int(v) => v[row].map_or(serde_json::Value::Null, |n| n.into()),
        }
    }
}

/// Joins a session `s` to its client's platform-reported last message `w`.
pub(crate) const WINDOW_JOIN: &str =
    "LEFT JOIN client_windows w ON w.channel = s.channel AND w.client_id = s.client_id";

/// The later of the two last-message times (either may be NULL).
pub(crate) const WINDOW_START: &str =
    "CASE WHEN w.last_message_at IS NULL THEN s.last_client_message_at
          WHEN s.last_client_message_at IS NULL OR s.last_client_message_at < w.last_message_at
          THEN w.last_message_at ELSE s.last_client_message_at END";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_literals_quote_every_text_and_leave_nulls_bare() {
        assert_eq!(text_array([]), "{}");
        assert_eq!(
            text_array([Some("a"), None, Some("NULL"), Some(""), Some(r#"q"b\,{}"#)]),
            r#"{"a",NULL,"NULL","","q\"b\\,{}"}"#
        );
        assert_eq!(
            int_array([Some(-1), None, Some(i64::MAX)]),
            "{-1,NULL,9223372036854775807}"
        );
    }
}
