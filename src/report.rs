//! The report's renderings: a table for people at a terminal, CSV for spreadsheets.
//! `GET /v1/stats` and `rateline stats` share them, so both show the same numbers. Also
//! the Wilson interval the dashboard puts beside each CSAT.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};

use crate::store::ReportGroup;

const HEADER: [&str; 9] = [
    "key",
    "sent",
    "answered",
    "response_rate",
    "average",
    "csat",
    "low",
    "evaluated",
    "evaluation_average",
];

/// The columns of a report of low ratings by reason, or for one reason.
const REASON_HEADER: [&str; 3] = ["key", "low", "share_of_low"];

/// Which columns a report has: every count, or (by reason or for one reason) the low
/// ratings alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    All,
    Reasons,
}

impl Columns {
    pub fn of(by: crate::store::Grouping, reason: Option<&str>) -> Self {
        if by == crate::store::Grouping::Reason || reason.is_some() {
            Columns::Reasons
        } else {
            Columns::All
        }
    }
}

/// The 95% Wilson score interval of a proportion: `positive` of `n`, as (low, high).
///
/// Unlike the plain ±1.96·√(p(1−p)/n), it stays within 0..1 and is honest for small
/// samples: 5 of 5 gives 57%–100%, 450 of 500 gives 87%–92%. Ranking by its lower bound
/// keeps a lucky operator with five ratings below a steady one with five hundred.
pub fn wilson(positive: i64, n: i64) -> Option<(f64, f64)> {
    if n <= 0 || !(0..=n).contains(&positive) {
        return None;
    }
    // The 97.5th percentile of the standard normal distribution.
    const Z: f64 = 1.959_963_984_540_054;
    let (k, n) = (positive as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let centre = p + z2 / (2.0 * n);
    let margin = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let denominator = 1.0 + z2 / n;
    Some((
        ((centre - margin) / denominator).max(0.0),
        ((centre + margin) / denominator).min(1.0),
    ))
}

fn fixed(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(String::new, |v| format!("{v:.digits$}"))
}

/// An aligned table; empty cells where a ratio has no denominator.
pub fn table(groups: &[ReportGroup], columns: Columns) -> String {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    if columns == Columns::Reasons {
        t.set_header(REASON_HEADER);
        for g in groups {
            t.add_row(vec![
                g.key.clone(),
                g.low.to_string(),
                fixed(g.share_of_low.map(|r| r * 100.0), 1)
                    + if g.share_of_low.is_some() { "%" } else { "" },
            ]);
        }
    } else {
        t.set_header(HEADER);
    }
    for g in groups.iter().filter(|_| columns == Columns::All) {
        t.add_row(vec![
            g.key.clone(),
            g.sent.to_string(),
            g.answered.to_string(),
            fixed(g.response_rate.map(|r| r * 100.0), 1)
                + if g.response_rate.is_some() { "%" } else { "" },
            fixed(g.average, 2),
            fixed(g.csat.map(|c| c * 100.0), 1) + if g.csat.is_some() { "%" } else { "" },
            g.low.to_string(),
            g.evaluated.to_string(),
            fixed(g.evaluation_average, 2),
        ]);
    }
    for i in 1..t.column_count() {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    if groups.is_empty() {
        return "no rating requests match these filters\n".into();
    }
    format!("{t}\n")
}

/// A cell a spreadsheet will not run as a formula: text that starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return gets a leading `'` (OWASP's rule for CSV injection), so
/// an operator id such as `=1+2` shows as the text it is.
fn neutral(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// RFC 4180 CSV with a header row; ratios as fractions 0..=1, empty when undefined. Every
/// CSV Rateline writes (`GET /v1/stats`, the dashboard's export, `rateline stats`) comes
/// from here, so every one is neutralised against formula injection.
pub fn csv(groups: &[ReportGroup], columns: Columns) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    if columns == Columns::Reasons {
        w.write_record(REASON_HEADER).expect("writing to memory");
        for g in groups {
            w.write_record([neutral(&g.key), g.low.to_string(), fixed(g.share_of_low, 4)])
                .expect("writing to memory");
        }
        return String::from_utf8(w.into_inner().expect("flushing to memory"))
            .expect("CSV of UTF-8 is UTF-8");
    }
    w.write_record(HEADER).expect("writing to memory");
    for g in groups {
        w.write_record([
            neutral(&g.key),
            g.sent.to_string(),
            g.answered.to_string(),
            fixed(g.response_rate, 4),
            fixed(g.average, 4),
            fixed(g.csat, 4),
            g.low.to_string(),
            g.evaluated.to_string(),
            fixed(g.evaluation_average, 4),
        ])
        .expect("writing to memory");
    }
    String::from_utf8(w.into_inner().expect("flushing to memory")).expect("CSV of UTF-8 is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(key: &str) -> ReportGroup {
        ReportGroup {
            key: key.into(),
            sent: 4,
            answered: 3,
            response_rate: Some(0.75),
            average: None,
            csat: Some(2.0 / 3.0),
            low: 1,
            evaluated: 0,
            evaluation_average: None,
            share_of_low: None,
        }
    }

    #[test]
    fn csv_quotes_keys_that_need_it_and_leaves_undefined_ratios_empty() {
        let out = csv(&[group("ops, night")], Columns::All);
        assert_eq!(
            out,
            "key,sent,answered,response_rate,average,csat,low,evaluated,evaluation_average\n\"ops, night\",4,3,0.7500,,0.6667,1,0,\n"
        );
    }

    #[test]
    fn cells_that_a_spreadsheet_would_run_start_with_a_quote() {
        let keys = [
            "=1+2",
            "@SUM(1+1)*cmd|x!A0",
            "+1",
            "-op",
            "\tx",
            "\rx",
            "op-1",
        ];
        let groups: Vec<_> = keys.iter().map(|k| group(k)).collect();
        let out = csv(&groups, Columns::All);
        let firsts: Vec<String> = ::csv::Reader::from_reader(out.as_bytes())
            .records()
            .map(|r| r.unwrap()[0].to_owned())
            .collect();
        assert_eq!(
            firsts,
            [
                "'=1+2",
                "'@SUM(1+1)*cmd|x!A0",
                "'+1",
                "'-op",
                "'\tx",
                "'\rx",
                "op-1"
            ]
        );
    }

    #[test]
    fn the_table_shows_percentages() {
        let out = table(&[group("op-1")], Columns::All);
        assert!(out.contains("75.0%") && out.contains("66.7%"), "{out}");
    }
}
