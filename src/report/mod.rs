//! Reports: tables, training history files and plots (PNG and SVG).
//!
//! Plots render text with the DejaVu Sans font embedded in the binary
//! (`assets/DejaVuSans.ttf`, Bitstream Vera licence), so they look the same on
//! every machine and need no system fonts.

pub mod bars;
pub mod history;
pub mod table;

use std::sync::Once;

static FONT: Once = Once::new();

/// Registers the embedded font with plotters as `sans-serif`; cheap after the first call.
pub fn init_fonts() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        // Registration only fails on a malformed font, and this one is fixed at build time.
        let _ =
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes);
    });
}

/// Encodes an RGB buffer of `size` pixels as PNG. Plots are drawn in memory
/// and written with [`crate::output::write_atomic_bytes`], so a failed write
/// leaves no half image and reads as an ordinary I/O error.
pub(crate) fn encode_png(rgb: &[u8], size: (u32, u32)) -> crate::Result<Vec<u8>> {
    use image::ImageEncoder as _;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(rgb, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| crate::Error::other(format!("encoding the PNG: {e}")))?;
    Ok(png)
}

/// The image format of a plot, chosen from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.png`
    Png,
    /// `.svg`
    Svg,
}

impl PlotFormat {
    /// From a path's extension (`png` or `svg`, any case).
    pub fn from_path(path: &std::path::Path) -> crate::Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("png") => Ok(PlotFormat::Png),
            Some("svg") => Ok(PlotFormat::Svg),
            _ => Err(crate::Error::config(format!(
                "{}: plot files must end in .png or .svg",
                path.display()
            ))),
        }
    }
}
