//! Training history: per-epoch loss and RMSE as CSV or JSON, and the loss
//! curves as PNG or SVG, as every source notebook plots them.

use std::path::Path;

use plotters::prelude::*;

use super::{encode_png, init_fonts, PlotFormat};
use crate::error::{Error, Result};
use crate::model::FitReport;

/// Writes the history of `report` to `path`: JSON when the extension is
/// `.json` (the whole report), CSV otherwise (one row per epoch:
/// `epoch,train_loss,train_rmse,valid_rmse,lr,seconds`; `valid_rmse` empty
/// when there was no validation split).
pub fn write_history(path: &Path, report: &FitReport) -> Result<()> {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let text = if is_json {
        serde_json::to_string_pretty(report).map_err(|e| Error::other(e.to_string()))?
    } else {
        let mut s = String::from("epoch,train_loss,train_rmse,valid_rmse,lr,seconds\n");
        for e in &report.history {
            let valid = e.valid_rmse.map_or(String::new(), |v| v.to_string());
            s.push_str(&format!(
                "{},{},{},{},{},{}\n",
                e.epoch, e.train_loss, e.train_rmse, valid, e.lr, e.seconds
            ));
        }
        s
    };
    crate::output::write_atomic_bytes(path, text.as_bytes())
}

/// Plots train and validation RMSE, and the training loss, against the
/// epoch into `path` (PNG or SVG by extension).
pub fn plot_history(path: &Path, report: &FitReport, title: &str) -> Result<()> {
    let format = PlotFormat::from_path(path)?;
    if report.history.is_empty() {
        return Err(Error::config("no epochs to plot: the history is empty"));
    }
    init_fonts();
    let size = (800, 500);
    let drawing_error = |e: String| Error::other(format!("drawing the plot: {e}")).with_path(path);
    let bytes = match format {
        PlotFormat::Png => {
            let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
            draw(
                BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area(),
                report,
                title,
            )
            .map_err(|e| drawing_error(e.to_string()))?;
            encode_png(&rgb, size).map_err(|e| e.with_path(path))?
        }
        PlotFormat::Svg => {
            let mut svg = String::new();
            draw(
                SVGBackend::with_string(&mut svg, size).into_drawing_area(),
                report,
                title,
            )
            .map_err(|e| drawing_error(e.to_string()))?;
            svg.into_bytes()
        }
    };
    crate::output::write_atomic_bytes(path, &bytes)
}

/// A named line of the plot: legend label, points, colour.
type Series = (&'static str, Vec<(f64, f64)>, RGBColor);

type PlotResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw<DB: DrawingBackend>(
    root: DrawingArea<DB, plotters::coord::Shift>,
    report: &FitReport,
    title: &str,
) -> PlotResult<DB> {
    root.fill(&WHITE)?;
    let h = &report.history;
    let series: [Series; 3] = [
        (
            "train RMSE",
            h.iter().map(|e| (e.epoch as f64, e.train_rmse)).collect(),
            BLUE,
        ),
        (
            "validation RMSE",
            h.iter()
                .filter_map(|e| e.valid_rmse.map(|v| (e.epoch as f64, v)))
                .collect(),
            RED,
        ),
        (
            "train loss",
            h.iter().map(|e| (e.epoch as f64, e.train_loss)).collect(),
            GREEN,
        ),
    ];
    let ys = series
        .iter()
        .flat_map(|s| s.1.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let pad = ((hi - lo) * 0.05).max(1e-6);
    let last = h.last().map_or(1, |e| e.epoch).max(2) as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(1.0..last, (lo - pad)..(hi + pad))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("RMSE / loss")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (name, points, color) in series {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EpochStats;

    fn report() -> FitReport {
        FitReport {
            epochs: 3,
            history: (1..=3)
                .map(|e| EpochStats {
                    epoch: e,
                    train_loss: 1.0 / (1 << e) as f64,
                    train_rmse: 1.25 - 0.125 * e as f64,
                    valid_rmse: Some(1.5 - 0.0625 * e as f64),
                    lr: 0.01,
                    seconds: 0.5,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn writes_csv_and_json_history() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("h.csv");
        write_history(&csv, &report()).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.lines().nth(2).unwrap().starts_with("2,0.25,1,1.375"));
        let json = dir.path().join("h.json");
        write_history(&json, &report()).unwrap();
        // Dyadic values survive the decimal round trip exactly.
        let back: FitReport =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(back, report());
    }

    #[test]
    fn plots_png_and_svg() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["c.png", "c.svg"] {
            let p = dir.path().join(name);
            plot_history(&p, &report(), "loss curves").unwrap();
            let bytes = std::fs::read(&p).unwrap();
            assert!(bytes.len() > 2000, "{name}: {} bytes", bytes.len());
        }
        let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
        assert!(svg.contains("validation RMSE"));
        assert!(plot_history(&dir.path().join("c.gif"), &report(), "t").is_err());
    }
}
