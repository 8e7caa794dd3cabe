//! The dashboard's charts, drawn by `plotters` into SVG strings that the page embeds.
//!
//! Text is laid out with DejaVu Sans, embedded in the binary (the `dejavu` crate), so a
//! chart looks the same on every machine and needs no system fonts; the browser draws the
//! SVG's `<text>` in its own sans-serif.

use std::sync::Once;

use plotters::prelude::*;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 240;
const INK: RGBColor = RGBColor(0x1f, 0x4e, 0x79);
const BAND: RGBColor = RGBColor(0xc9, 0xd9, 0xea);

fn fonts() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is part of the binary: registering it cannot fail but for a broken build.
        if plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_err()
        {
            tracing::error!("the embedded chart font could not be read");
        }
    });
}

/// The label of the bar or point at `x` (they stand at 0, 1, 2, …); none between them.
fn label_at(labels: &[&str], x: f64) -> String {
    let i = x.round();
    if (x - i).abs() < 1e-6 && i >= 0.0 {
        labels.get(i as usize).copied().unwrap_or("").to_owned()
    } else {
        String::new()
    }
}

/// One point of a line over periods: the value, and the band drawn around it (the 95%
/// interval), if any. `None` where the period has nothing to show.
pub struct Point {
    pub label: String,
    pub value: Option<f64>,
    pub band: Option<(f64, f64)>,
}

/// A line over periods (x: the periods in order, labelled by their date), with its band.
pub fn line(title: &str, points: &[Point], y: std::ops::Range<f64>, percent: bool) -> String {
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
            root.fill(&WHITE)?;
            let n = points.len().max(1);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(44)
                .build_cartesian_2d(-0.5..(n as f64 - 0.5), y)?;
            let labels: Vec<&str> = points.iter().map(|p| p.label.as_str()).collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n.min(8))
                .x_label_formatter(&|x| label_at(&labels, *x))
                .y_label_formatter(&|v| {
                    if percent {
                        format!("{:.0}%", v * 100.0)
                    } else {
                        format!("{v:.1}")
                    }
                })
                .draw()?;
            for (i, p) in points.iter().enumerate() {
                if let Some((lo, hi)) = p.band {
                    let x = i as f64;
                    chart.draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.12, lo), (x + 0.12, hi)],
                        BAND.filled(),
                    )))?;
                }
            }
            // Periods without a value break the line rather than bridging the gap.
            for run in points
                .iter()
                .enumerate()
                .collect::<Vec<_>>()
                .split(|(_, p)| p.value.is_none())
            {
                let run: Vec<(f64, f64)> = run
                    .iter()
                    .filter_map(|(i, p)| p.value.map(|v| (*i as f64, v)))
                    .collect();
                chart.draw_series(LineSeries::new(run.clone(), INK.stroke_width(2)))?;
                chart.draw_series(run.into_iter().map(|xy| Circle::new(xy, 3, INK.filled())))?;
            }
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "a chart could not be drawn");
        }
    }
    svg
}

/// Bars with a count each, labelled below and above.
pub fn bars(title: &str, bars: &[(String, i64)]) -> String {
    fonts();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let drawn: Result<(), Box<dyn std::error::Error>> = (|| {
            root.fill(&WHITE)?;
            // Whole numbers on the axis, with room above the tallest bar for its count.
            let most = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
            let top = most + most / 8 + 1;
            let n = bars.len().max(1);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 15))
                .margin(8)
                .x_label_area_size(28)
                .y_label_area_size(44)
                .build_cartesian_2d(-0.5..(n as f64 - 0.5), 0..top)?;
            let labels: Vec<&str> = bars.iter().map(|(l, _)| l.as_str()).collect();
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .y_labels((top as usize + 1).min(8))
                .x_label_formatter(&|x| label_at(&labels, *x))
                .draw()?;
            chart.draw_series(bars.iter().enumerate().map(|(i, (_, count))| {
                let x = i as f64;
                Rectangle::new([(x - 0.35, 0), (x + 0.35, *count)], INK.filled())
            }))?;
            chart.draw_series(bars.iter().enumerate().map(|(i, (_, count))| {
                Text::new(
                    count.to_string(),
                    (i as f64 - 0.05, *count + (top / 12).max(1)),
                    ("sans-serif", 12),
                )
            }))?;
            root.present()?;
            Ok(())
        })();
        if let Err(e) = drawn {
            tracing::warn!(error = %e, "a chart could not be drawn");
        }
    }
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_drawn_with_their_counts_and_labels() {
        let svg = bars("Ratings", &[("1★".into(), 3), ("5★".into(), 12)]);
        assert!(svg.starts_with("<svg"), "{svg}");
        // The counts above the bars (the axis runs 0, 2, 4, …: 3 is only a bar's).
        assert!(svg.contains(">\n3\n</text>"), "{svg}");
        assert!(svg.contains(">\n12\n</text>"), "{svg}");
        assert!(svg.contains("5★"), "{svg}");
        assert_eq!(
            svg.matches("<rect").count(),
            3,
            "background and two bars: {svg}"
        );
    }

    #[test]
    fn a_line_skips_periods_without_a_value() {
        let p = |label: &str, value: Option<f64>| Point {
            label: label.into(),
            value,
            band: value.map(|v| (v - 0.1, v + 0.1)),
        };
        let svg = line(
            "CSAT",
            &[
                p("11-16", Some(0.5)),
                p("11-17", None),
                p("11-18", Some(0.9)),
            ],
            0.0..1.0,
            true,
        );
        assert!(svg.contains("11-18") && svg.contains("100%"), "{svg}");
        // Two single-point runs: no segment bridges the empty period.
        assert_eq!(svg.matches("<circle").count(), 2, "{svg}");
    }
}
