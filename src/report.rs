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
    /// Every count: a report by operator, line, channel, day or week.
    All,
    /// The low ratings alone: a report by reason, or for one reason.
    Reasons,
}

impl Columns {
    /// The columns of a report grouped `by`, for `reason` when one is given.
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

/// How a proportion changed from one period to the next: `now − before`, with its 95%
/// interval by Newcombe's hybrid score method (1998, method 10), which builds the
/// difference's interval from the two periods' Wilson intervals. The change is beyond the
/// noise when that interval leaves out zero.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Change {
    /// `now − before`, as a share (0.05 is five points).
    pub difference: f64,
    /// The lower end of the difference's 95% interval.
    pub low: f64,
    /// The upper end of the difference's 95% interval.
    pub high: f64,
    /// The interval leaves out zero: more than the noise of two samples this size.
    pub beyond_noise: bool,
}

impl Change {
    /// The change in people's words, as the Quality page and the weekly report give it:
    /// "up 3.2 points" and "beyond the noise" (or "within the noise").
    pub fn words(&self) -> (String, &'static str) {
        let way = if self.difference >= 0.0 { "up" } else { "down" };
        let noise = if self.beyond_noise {
            "beyond the noise"
        } else {
            "within the noise"
        };
        (
            format!("{way} {:.1} points", self.difference.abs() * 100.0),
            noise,
        )
    }
}

/// A period against the one before it: each one's numbers, and how CSAT and the share of
/// low ratings among the answered changed (`null` when either period has none answered).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Trend {
    /// The numbers of the period asked for; `null` when it has nothing to count.
    pub now: Option<ReportGroup>,
    /// The numbers of the period as long just before it; `null` when it has nothing to count.
    pub before: Option<ReportGroup>,
    /// How CSAT changed from `before` to `now`; `null` unless both have answers.
    pub csat_change: Option<Change>,
    /// How the share of low ratings among the answered changed from `before` to `now`; `null`
    /// unless both have answers.
    pub low_share_change: Option<Change>,
}

impl Trend {
    /// `now` against `before`, with the changes worked out.
    pub fn of(now: Option<ReportGroup>, before: Option<ReportGroup>) -> Self {
        let positive = |g: &ReportGroup| (g.csat.unwrap_or(0.0) * g.answered as f64).round() as i64;
        let both = now.as_ref().zip(before.as_ref());
        Trend {
            csat_change: both
                .and_then(|(n, b)| change((positive(n), n.answered), (positive(b), b.answered))),
            low_share_change: both
                .and_then(|(n, b)| change((n.low, n.answered), (b.low, b.answered))),
            now,
            before,
        }
    }
}

/// The change from `before` (`positive` of `n`) to `now`; `None` when either has no `n`.
pub fn change(now: (i64, i64), before: (i64, i64)) -> Option<Change> {
    let (l1, u1) = wilson(now.0, now.1)?;
    let (l2, u2) = wilson(before.0, before.1)?;
    let p1 = now.0 as f64 / now.1 as f64;
    let p2 = before.0 as f64 / before.1 as f64;
    let difference = p1 - p2;
    let low = difference - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt();
    let high = difference + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt();
    Some(Change {
        difference,
        low,
        high,
        beyond_noise: low > 0.0 || high < 0.0,
    })
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

    #[test]
    fn a_change_is_beyond_the_noise_when_its_interval_leaves_out_zero() {
        // Newcombe (1998), Table II, example (a): 56/70 − 48/80, method 10.
        let c = change((56, 70), (48, 80)).unwrap();
        assert!((c.difference - 0.2).abs() < 1e-9);
        assert!((c.low - 0.0524).abs() < 5e-5 && (c.high - 0.3339).abs() < 5e-5);
        assert!(c.beyond_noise);
        // Two points on five hundred ratings each is within the noise.
        let c = change((450, 500), (440, 500)).unwrap();
        assert!(c.low < 0.0 && c.high > 0.0 && !c.beyond_noise);
        assert_eq!(change((1, 1), (0, 0)), None);
    }

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
