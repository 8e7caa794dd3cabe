//! Exports of individual ratings, as CSV or NDJSON (one JSON object a line), for the API's
//! `GET /v1/ratings/export` and the dashboard's download links alike. The body is streamed:
//! rows are written as the database sends them, a chunk at a time, so an export of a
//! million ratings holds a few chunks in memory, never the rows. Times are in the reader's
//! zone, people and lines by name beside their ids, and the file is named for what it holds.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use serde::Serialize;

use crate::engine::Export;
use crate::store::{Directory, ExportedRating};

/// The size a chunk of the body grows to before it is sent.
const CHUNK: usize = 64 * 1024;

/// Chunks written but not yet sent: with [`CHUNK`], most of the memory an export holds.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Rows read from the database but not yet written.
const ROWS_IN_FLIGHT: usize = 256;

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row (`text/csv`).
    Csv,
    /// One JSON object per line (`application/x-ndjson`).
    Ndjson,
}

impl Format {
    /// The format a `format` parameter names (`csv`, `ndjson`); `None` for any other.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "csv" => Some(Format::Csv),
            "ndjson" => Some(Format::Ndjson),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Ndjson => "application/x-ndjson",
        }
    }
}

/// One rating as a row of the file: every column, in order.
#[derive(Serialize)]
struct Row<'a> {
    rated_at: String,
    line: &'a str,
    line_id: &'a str,
    operator: Option<&'a str>,
    operator_id: Option<&'a str>,
    client: Option<&'a str>,
    client_id: &'a str,
    channel: &'a str,
    scale: &'a str,
    value: i64,
    low: bool,
    resolved: Option<bool>,
    reasons: String,
    comment: Option<&'a str>,
    comment_flagged: bool,
    state: &'a str,
    assignee: Option<&'a str>,
    closed_note: Option<&'a str>,
    response: Option<&'a str>,
    response_by: Option<&'a str>,
    appeal: Option<&'a str>,
    evaluation: Option<i64>,
    rating_id: &'a str,
    session_id: &'a str,
}

fn row<'a>(r: &'a ExportedRating, zone: Tz, names: &'a Directory) -> Row<'a> {
    let person = |id: &'a Option<String>| {
        id.as_deref()
            .map(|id| names.people.get(id).map_or(id, |(name, _)| name.as_str()))
    };
    Row {
        rated_at: r.rated_at.with_timezone(&zone).to_rfc3339(),
        line: names
            .lines
            .get(&r.line_id)
            .map_or(r.line_id.as_str(), String::as_str),
        line_id: &r.line_id,
        operator: r.operator_name.as_deref().or(r.operator_id.as_deref()),
        operator_id: r.operator_id.as_deref(),
        client: r.client_name.as_deref(),
        client_id: &r.client_id,
        channel: &r.channel,
        scale: &r.scale,
        value: r.value,
        low: r.low,
        resolved: r.resolved,
        reasons: r.reasons.join(" "),
        comment: r.comment.as_deref(),
        comment_flagged: r.comment_flagged,
        state: r.state,
        assignee: person(&r.assignee_id),
        closed_note: r.closed_note.as_deref(),
        response: r.response.as_deref(),
        response_by: person(&r.response_by),
        appeal: r.appeal.as_deref(),
        evaluation: r.evaluation,
        rating_id: &r.rating_id,
        session_id: &r.session_id,
    }
}

/// Writes rows into a buffer in one format.
enum Writer {
    Csv(Box<csv::Writer<Vec<u8>>>),
    Ndjson(Vec<u8>),
}

impl Writer {
    fn new(format: Format) -> Self {
        match format {
            Format::Csv => Writer::Csv(Box::new(csv_writer(true))),
            Format::Ndjson => Writer::Ndjson(Vec::with_capacity(CHUNK)),
        }
    }

    fn write(&mut self, row: &Row) -> std::io::Result<()> {
        match self {
            Writer::Csv(w) => w.serialize(row).map_err(std::io::Error::other),
            Writer::Ndjson(buf) => {
                serde_json::to_writer(&mut *buf, row)?;
                buf.push(b'\n');
                Ok(())
            }
        }
    }

    /// What is written so far, when it has grown to a chunk (or `all`), taken out.
    fn take(&mut self, all: bool) -> std::io::Result<Option<Bytes>> {
        let taken = match self {
            Writer::Csv(w) => {
                w.flush()?;
                if w.get_ref().is_empty() || (!all && w.get_ref().len() < CHUNK) {
                    return Ok(None);
                }
                // The header row went with the first chunk; the next writer writes none.
                std::mem::replace(w.as_mut(), csv_writer(false))
                    .into_inner()
                    .map_err(|e| e.into_error())?
            }
            Writer::Ndjson(buf) => {
                if buf.is_empty() || (!all && buf.len() < CHUNK) {
                    return Ok(None);
                }
                std::mem::replace(buf, Vec::with_capacity(CHUNK))
            }
        };
        Ok(Some(Bytes::from(taken)))
    }
}

fn csv_writer(headers: bool) -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(headers)
        .from_writer(Vec::with_capacity(CHUNK))
}

/// Ends a download early, saying why in the log.
async fn fail(tx: &tokio::sync::mpsc::Sender<std::io::Result<Bytes>>, e: std::io::Error) {
    tracing::error!(error = %e, "an export of ratings failed part way; the download ends early");
    let _ = tx.send(Err(e)).await;
}

/// `export` as a download named `file` (without its extension), streamed. An export that
/// fails part way ends the body early, so the download is seen to fail, and is logged.
pub fn streamed(
    export: Export,
    format: Format,
    zone: Tz,
    names: Directory,
    file: &str,
) -> Response {
    // The rows come from the database on one task and are written into chunks on another,
    // each channel bounded: a slow reader holds the database's side back, never the memory.
    let (rows_tx, mut rows_rx) = tokio::sync::mpsc::channel::<ExportedRating>(ROWS_IN_FLIGHT);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let reading = tokio::spawn(async move { export.send_to(&rows_tx).await });
    tokio::spawn(async move {
        let mut writer = Writer::new(format);
        while let Some(r) = rows_rx.recv().await {
            let written = writer
                .write(&row(&r, zone, &names))
                .and_then(|()| writer.take(false));
            match written {
                Ok(Some(chunk)) => {
                    if tx.send(Ok(chunk)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => return fail(&tx, e).await,
            }
        }
        match reading.await {
            Ok(Ok(_)) => match writer.take(true) {
                Ok(Some(chunk)) => {
                    let _ = tx.send(Ok(chunk)).await;
                }
                Ok(None) => {}
                Err(e) => fail(&tx, e).await,
            },
            Ok(Err(e)) => fail(&tx, std::io::Error::other(e.to_string())).await,
            Err(e) => fail(&tx, std::io::Error::other(e.to_string())).await,
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    let disposition = format!("attachment; filename=\"{file}.{}\"", format.extension());
    (
        [
            (header::CONTENT_TYPE, format.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

/// The file's name for an export with the query `params`: what it holds (the kind of
/// ratings, the line, the operator, the state, the period), only safe characters.
pub fn file_name(params: &HashMap<String, String>) -> String {
    let mut parts = vec![format!(
        "ratings-{}",
        params.get("show").map_or("low", String::as_str)
    )];
    for key in ["line", "operator", "channel", "state"] {
        if let Some(v) = params.get(key) {
            parts.push(v.clone());
        }
    }
    if let Some(from) = params.get("from") {
        parts.push(format!("from-{from}"));
    }
    if let Some(to) = params.get("to") {
        parts.push(format!("to-{to}"));
    }
    parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect()
}
