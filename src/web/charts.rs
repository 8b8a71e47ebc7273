//! Charts for the operator's dashboard and the customers' Account Information, drawn
//! server-side to SVG by plotters. The figures in
//! the tables beside them are the exact ones; a chart only turns them into drawing coordinates.

use chrono::NaiveDate;
use plotters::prelude::*;

/// One line of a chart: a name and a value per day (same length as the days).
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// Colours that stay apart for the first few series (and print well in grey).
const PALETTE: [RGBColor; 8] = [
    RGBColor(113, 75, 103),
    RGBColor(0, 122, 153),
    RGBColor(214, 120, 0),
    RGBColor(60, 140, 60),
    RGBColor(190, 50, 60),
    RGBColor(90, 90, 200),
    RGBColor(120, 120, 120),
    RGBColor(150, 110, 40),
];

const WIDTH: u32 = 720;
const HEIGHT: u32 = 280;

/// A line chart of `series` over `days`, as an `<svg>` element to put in a page. `title` is
/// also the SVG's accessible name.
pub fn daily_lines(title: &str, unit: &str, days: &[NaiveDate], series: &[Series]) -> String {
    // An empty grid says less than a sentence.
    if series.iter().all(|s| s.values.iter().all(|v| *v == 0.0)) {
        return "<p class=\"chart-empty\">Nothing in this period.</p>".into();
    }
    let mut svg = String::new();
    if let Err(e) = draw(&mut svg, unit, days, series) {
        tracing::warn!("could not draw the chart {title:?}: {e}");
        return String::new();
    }
    // plotters writes a standalone document; make it a scalable, labelled inline element.
    let svg = svg.trim_start_matches(|c| c != '<').replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" class=\"chart\" ",
            askama_escape(title)
        ),
        1,
    );
    strip_size(&svg)
}

fn draw(svg: &mut String, unit: &str, days: &[NaiveDate], series: &[Series]) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let last = days.len().saturating_sub(1).max(1);
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d(0..last, 0.0..top)
        .map_err(|e| e.to_string())?;
    let label = |i: &usize| {
        days.get(*i)
            .map(|d| d.format("%b %-d").to_string())
            .unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_labels(days.len().min(8))
        .x_label_formatter(&label)
        .y_labels(6)
        .y_desc(unit)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 13))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                s.values.iter().copied().enumerate(),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(s.name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    if !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    root.present().map_err(|e| e.to_string())?;
    Ok(())
}

/// Drops the fixed width/height plotters puts on the root element, so CSS sizes the chart.
fn strip_size(svg: &str) -> String {
    strip_size_of(svg, WIDTH, HEIGHT)
}

fn strip_size_of(svg: &str, width: u32, height: u32) -> String {
    let Some(end) = svg.find('>') else {
        return svg.to_string();
    };
    let (head, rest) = svg.split_at(end);
    let head = head
        .replacen(&format!("width=\"{width}\" "), "", 1)
        .replacen(&format!("height=\"{height}\" "), "", 1);
    format!("{head}{rest}")
}

const SPARK_WIDTH: u32 = 120;
const SPARK_HEIGHT: u32 = 28;

/// A sparkline: one small line of `values` (a value a day), no axes, labelled `label` (which
/// should say what a screen reader needs: the total, the period).
pub fn sparkline(label: &str, values: &[f64]) -> String {
    let mut svg = String::new();
    let drawn = (|| -> Result<(), String> {
        let root =
            SVGBackend::with_string(&mut svg, (SPARK_WIDTH, SPARK_HEIGHT)).into_drawing_area();
        let top = values.iter().copied().fold(0.0_f64, f64::max);
        let top = if top > 0.0 { top * 1.1 } else { 1.0 };
        let last = values.len().saturating_sub(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(2)
            .build_cartesian_2d(0..last, 0.0..top)
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                values.iter().copied().enumerate(),
                PALETTE[0].stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())
    })();
    if let Err(e) = drawn {
        tracing::warn!("could not draw a sparkline: {e}");
        return String::new();
    }
    let svg = svg.trim_start_matches(|c| c != '<').replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" class=\"sparkline\" ",
            askama_escape(label)
        ),
        1,
    );
    strip_size_of(&svg, SPARK_WIDTH, SPARK_HEIGHT)
}

fn askama_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_inline_labelled_svg_with_its_series() {
        let days: Vec<NaiveDate> = (1..=7)
            .map(|d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
            .collect();
        let svg = daily_lines(
            "Credits consumed per day",
            "credits",
            &days,
            &[
                Series {
                    name: "SMS".into(),
                    values: vec![0.0, 1.5, 3.0, 0.0, 2.0, 2.5, 1.0],
                },
                Series {
                    name: "Snailmail & co".into(),
                    values: vec![1.0; 7],
                },
            ],
        );
        assert!(
            svg.starts_with("<svg role=\"img\" aria-label=\"Credits consumed per day\""),
            "{svg}"
        );
        assert!(svg.contains("viewBox=\"0 0 720 280\""));
        let head = &svg[..svg.find('>').unwrap()];
        assert!(!head.contains("width="), "sized by CSS: {head}");
        assert!(svg.contains("\nSMS\n</text>"), "{svg}");
        assert!(svg.contains("Snailmail &amp; co"), "{svg}");
        assert!(svg.contains("Nov 1"), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
        // The pages' Content-Security-Policy refuses inline style attributes.
        assert!(!svg.contains("style="), "{svg}");
    }

    #[test]
    fn an_empty_period_is_a_sentence_not_an_empty_grid() {
        let days: Vec<NaiveDate> = (1..=7)
            .map(|d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap())
            .collect();
        let zeros = Series {
            name: "SMS".into(),
            values: vec![0.0; 7],
        };
        for series in [vec![], vec![zeros]] {
            let html = daily_lines("Credits consumed per day", "credits", &days, &series);
            assert_eq!(html, "<p class=\"chart-empty\">Nothing in this period.</p>");
        }
    }

    #[test]
    fn a_sparkline_is_a_small_labelled_svg_without_inline_styles() {
        let svg = sparkline(
            "Credits spent per day, last 30 days: 12 in all",
            &[0.0, 2.0, 10.0],
        );
        assert!(svg.starts_with("<svg role=\"img\" aria-label=\"Credits spent per day, last 30 days: 12 in all\" class=\"sparkline\""), "{svg}");
        assert!(svg.contains("viewBox=\"0 0 120 28\""), "{svg}");
        assert!(svg.contains("<polyline"), "{svg}");
        assert!(!svg.contains("style="), "{svg}");
    }
}
