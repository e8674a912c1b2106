//! Side information: item titles and user/item feature vectors (hybrid models).

/// Whether side features describe users or items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideOf {
    /// One feature row per user.
    Users,
    /// One feature row per item.
    Items,
}

/// Dense side features aligned with an id map: row `r` describes index `r`
/// (rows for ids the side file lacks are all zero).
#[derive(Debug, Clone, PartialEq)]
pub struct SideFeatures {
    /// Users or items.
    pub of: SideOf,
    /// Number of rows (the size of the id map they align with).
    pub n_rows: usize,
    /// Features per row.
    pub dim: usize,
    /// Row-major `n_rows × dim` values.
    pub data: Vec<f32>,
    /// Name of each feature column (e.g. `gender=F`, `genre=Comedy`).
    pub names: Vec<String>,
}

impl SideFeatures {
    /// Features of row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }
}
