//! Bar charts with error bars (one bar per model, the error bar one standard
//! deviation each side), as PNG or SVG.

use std::path::Path;

use plotters::prelude::*;

use super::{encode_png, init_fonts, PlotFormat};
use crate::error::{Error, Result};

/// One bar: a label, a height and a half-width of its error bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Bar height.
    pub value: f64,
    /// Error bar half-height (0 draws none).
    pub error: f64,
}

/// Draws `bars` to `path` (format from the extension), 900 × 500 pixels.
/// The y axis starts a little below the lowest `value − error`, so small
/// differences between close models stay visible.
pub fn bar_chart(path: &Path, title: &str, y_label: &str, bars: &[Bar]) -> Result<()> {
    if bars.is_empty() {
        return Err(Error::config("a bar chart needs at least one bar"));
    }
    if bars
        .iter()
        .any(|b| !b.value.is_finite() || !b.error.is_finite())
    {
        return Err(Error::other(format!(
            "{}: a bar value is not finite",
            path.display()
        )));
    }
    init_fonts();
    let format = PlotFormat::from_path(path)?;
    let size = (900, 500);
    let drawing_error = |e: Box<dyn std::error::Error>| {
        Error::other(format!("drawing the chart: {e}")).with_path(path)
    };
    let bytes = match format {
        PlotFormat::Png => {
            let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
            draw(
                BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(),
                title,
                y_label,
                bars,
            )
            .map_err(drawing_error)?;
            encode_png(&rgb, size).map_err(|e| e.with_path(path))?
        }
        PlotFormat::Svg => {
            let mut svg = String::new();
            draw(
                SVGBackend::with_string(&mut svg, size).into_drawing_area(),
                title,
                y_label,
                bars,
            )
            .map_err(drawing_error)?;
            svg.into_bytes()
        }
    };
    crate::output::write_atomic_bytes(path, &bytes)
}

fn y_range(bars: &[Bar]) -> (f64, f64) {
    let lo = bars
        .iter()
        .map(|b| b.value - b.error)
        .fold(f64::INFINITY, f64::min);
    let hi = bars
        .iter()
        .map(|b| b.value + b.error)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = (hi - lo).max(hi.abs() * 0.05).max(1e-9);
    ((lo - 0.5 * span).max(0.0_f64.min(lo)), hi + 0.2 * span)
}

fn draw<DB: DrawingBackend>(
    area: DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    bars: &[Bar],
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let (lo, hi) = y_range(bars);
    let n = bars.len();
    let mut chart = ChartBuilder::on(&area)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, lo..hi)?;
    let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
    let label_of = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n)
        .y_desc(y_label)
        .x_label_formatter(&label_of)
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
        let x = i as f64;
        Rectangle::new(
            [(x - 0.35, lo), (x + 0.35, b.value)],
            BLUE.mix(0.6).filled(),
        )
    }))?;
    // Error bars: a vertical stroke with caps, one standard deviation each side.
    for (i, b) in bars.iter().enumerate().filter(|(_, b)| b.error > 0.0) {
        let x = i as f64;
        let (bottom, top) = (b.value - b.error, b.value + b.error);
        let style = BLACK.stroke_width(2);
        chart.draw_series([
            PathElement::new(vec![(x, bottom), (x, top)], style),
            PathElement::new(vec![(x - 0.1, bottom), (x + 0.1, bottom)], style),
            PathElement::new(vec![(x - 0.1, top), (x + 0.1, top)], style),
        ])?;
    }
    area.present()?;
    Ok(())
}
