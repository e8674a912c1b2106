//! The model file: round trip, atomic write, and every way a file can be bad
//! (truncated, corrupted, foreign, newer, inconsistent) is an error that names
//! the path, never a panic.

mod fixed_mf;

use std::collections::HashMap;
use std::path::Path;

use aerec::persist::{self, ModelLoader};
use aerec::ErrorKind;
use proptest::prelude::*;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};

const LOADER: ModelLoader = fixed_mf::loader;

fn saved(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("m.aerec");
    persist::save(&fixed_mf::fixture(), &path).unwrap();
    path
}

/// Asserts a model-file error that names `path` and contains `needle`.
fn assert_bad(path: &Path, needle: &str) {
    let err = persist::load_with(path, LOADER).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::ModelFile(_)), "{err}");
    assert_eq!(err.path(), Some(path));
    let msg = err.to_string();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(msg.contains(&path.display().to_string()));
}

/// Rebuilds a container with edited tensors and metadata; the checksum is
/// recomputed (as aerec does: tensor data in name order, then the metadata)
/// unless `keep_sum`.
fn rewrite(
    bytes: &[u8],
    edit_tensor: impl Fn(&str, &mut Vec<u8>),
    edit_meta: impl Fn(&mut HashMap<String, String>),
    keep_sum: bool,
) -> Vec<u8> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut hasher = Sha256::new();
    for name in &names {
        let v = st.tensor(name).unwrap();
        let mut data = v.data().to_vec();
        edit_tensor(name, &mut data);
        hasher.update(&data);
        owned.push((name.clone(), v.dtype(), v.shape().to_vec(), data));
    }
    edit_meta(&mut meta);
    if !keep_sum {
        // Format version 2: the metadata (but the sum) follows the tensors,
        // `key NUL value NUL` in key order.
        let mut keys: Vec<&String> = meta.keys().filter(|k| *k != "sha256").collect();
        keys.sort();
        for k in keys {
            hasher.update(k.as_bytes());
            hasher.update([0]);
            hasher.update(meta[k].as_bytes());
            hasher.update([0]);
        }
        let sum: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        meta.insert("sha256".into(), sum);
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, data)| (n.clone(), TensorView::new(*d, s.clone(), data).unwrap()))
        .collect();
    safetensors::serialize(views, &Some(meta)).unwrap()
}

#[test]
fn round_trip_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let original = fixed_mf::fixture();
    let loaded = persist::load_with(&path, LOADER).unwrap();
    assert_eq!(loaded.model.to_parts(), original.model.to_parts());
    assert_eq!(loaded.user_ids.ids(), original.user_ids.ids());
    assert_eq!(loaded.item_ids.get("i4"), Some(3), "reverse index rebuilt");
    assert_eq!(loaded.train, original.train);
    assert_eq!(loaded.fallback, original.fallback);
    assert_eq!(loaded.scale, original.scale);
    assert_eq!(loaded.report, original.report);
    assert_eq!(loaded.titles, original.titles);
    assert_eq!(loaded.spec, original.spec);
    assert_eq!(
        aerec::recommend::for_user(&loaded, "u1", 3).unwrap(),
        aerec::recommend::for_user(&original, "u1", 3).unwrap()
    );
}

#[test]
fn write_is_atomic_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.aerec");
    std::fs::write(&path, b"old contents").unwrap();
    persist::save(&fixed_mf::fixture(), &path).unwrap();
    persist::load_with(&path, LOADER).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("m.aerec")],
        "no temp file left"
    );
    let missing_dir = dir.path().join("no/such/dir/m.aerec");
    let err = persist::save(&fixed_mf::fixture(), &missing_dir).unwrap_err();
    assert_eq!(err.path(), Some(missing_dir.as_path()));
}

#[test]
fn inspect_reports_contents() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let info = persist::inspect(&path).unwrap();
    assert_eq!(info.kind, fixed_mf::KIND);
    assert_eq!(info.format_version, persist::FORMAT_VERSION);
    assert_eq!(
        (info.stats.users, info.stats.items, info.stats.ratings),
        (4, 6, 7)
    );
    // μ of the fixture's seven ratings: (5+4+2+5+1+1+3)/7.
    assert!((info.stats.mu - 3.0).abs() < 1e-6);
    assert_eq!(info.titles, 2);
    assert_eq!(info.fit_report.epochs, 3);
    assert_eq!(info.size_bytes, std::fs::metadata(&path).unwrap().len());
    assert_eq!(info.sha256.len(), 64);
    let names: Vec<&str> = info.tensors.iter().map(|t| t.name.as_str()).collect();
    for name in [
        "item_factors",
        "train.indptr",
        "ids.users",
        "titles",
        "fallback.item_counts",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
}

#[test]
fn truncated_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert_bad(&path, "truncated");
    std::fs::write(&path, &bytes[..5]).unwrap();
    assert_bad(&path, "not a safetensors container");
}

#[test]
fn corrupted_data_fails_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert_bad(&path, "checksum mismatch");
}

#[test]
fn foreign_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("foreign.aerec");
    std::fs::write(&path, "user,item,rating\n1,2,3\n").unwrap();
    assert_bad(&path, "not a safetensors container");
    let data = [0u8; 8];
    let plain = safetensors::serialize(
        [("w", TensorView::new(Dtype::F32, vec![2], &data).unwrap())],
        &None,
    )
    .unwrap();
    std::fs::write(&path, plain).unwrap();
    assert_bad(&path, "not an aerec model");
    let bytes = std::fs::read(saved(dir.path())).unwrap();
    let other = rewrite(
        &bytes,
        |_, _| {},
        |m| {
            m.insert("format".into(), "pytorch".into());
        },
        false,
    );
    std::fs::write(&path, other).unwrap();
    assert_bad(&path, "format \"pytorch\"");
}

#[test]
fn newer_version_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let newer = rewrite(
        &bytes,
        |_, _| {},
        |m| {
            m.insert(
                "format_version".into(),
                (persist::FORMAT_VERSION + 1).to_string(),
            );
        },
        false,
    );
    std::fs::write(&path, newer).unwrap();
    assert_bad(&path, "newer aerec");
}

#[test]
fn inconsistent_contents_with_a_valid_checksum_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "column index is out of range",
            rewrite(
                &bytes,
                |n, d| {
                    if n == "train.indices" {
                        d[4..8].copy_from_slice(&99u32.to_le_bytes());
                    }
                },
                |_| {},
                false,
            ),
        ),
        (
            "not strictly increasing",
            rewrite(
                &bytes,
                |n, d| {
                    if n == "train.indices" {
                        d[4..8].copy_from_slice(&0u32.to_le_bytes());
                    }
                },
                |_| {},
                false,
            ),
        ),
        (
            "is not the expected JSON",
            rewrite(
                &bytes,
                |n, d| {
                    if n == "ids.items" {
                        d[0] = b'{';
                    }
                },
                |_| {},
                false,
            ),
        ),
        (
            "metadata \"stats\" cannot be read",
            rewrite(
                &bytes,
                |_, _| {},
                |m| {
                    m.insert("stats".into(), "{\"mu\":3}".into());
                },
                false,
            ),
        ),
    ];
    for (needle, file) in cases {
        std::fs::write(&path, file).unwrap();
        assert_bad(&path, needle);
    }
    let wrong_sum = rewrite(
        &bytes,
        |n, d| {
            if n == "fallback.item_bias" {
                d[0] ^= 1;
            }
        },
        |_| {},
        true,
    );
    std::fs::write(&path, wrong_sum).unwrap();
    assert_bad(&path, "checksum mismatch");
}

#[test]
fn missing_file_names_the_path() {
    let err = persist::load_with("/no/such/model.aerec", LOADER).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Io(_)));
    assert!(err.to_string().starts_with("/no/such/model.aerec: "));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(persist::from_bytes(&bytes, LOADER).is_err());
    }

    #[test]
    fn flipped_bytes_never_panic(at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bytes = persist::to_bytes(&fixed_mf::fixture()).unwrap();
        let k = at.index(bytes.len());
        bytes[k] ^= xor;
        // Most flips are errors; a flip in header padding or in a JSON value
        // that still parses may load. Either way: no panic.
        let _ = persist::from_bytes(&bytes, LOADER);
    }
}

#[test]
fn edited_metadata_fails_the_checksum() {
    // Issue 14, item 9: raising the scale's max from 5 to 9 changed what
    // fold-in accepts and still read as verified.
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    let stats = |m: &mut HashMap<String, String>| {
        let text = m["stats"].replace("\"max\":5.0", "\"max\":9.0");
        assert_ne!(text, m["stats"], "the fixture's scale tops at 5");
        m.insert("stats".into(), text);
    };
    std::fs::write(&path, rewrite(&bytes, |_, _| {}, stats, true)).unwrap();
    assert_bad(&path, "checksum mismatch");
    for key in ["spec", "config", "fit_report", "kind", "created_unix"] {
        let edited = rewrite(
            &bytes,
            |_, _| {},
            |m| {
                let v = m.get_mut(key).unwrap();
                v.push(' ');
            },
            true,
        );
        std::fs::write(&path, edited).unwrap();
        assert_bad(&path, "checksum mismatch");
    }
}

#[test]
fn version_1_files_still_read_with_tensors_verified() {
    let dir = tempfile::tempdir().unwrap();
    let path = saved(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    // A version 1 file: the checksum covers the tensors only.
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    let mut hasher = Sha256::new();
    for n in &names {
        hasher.update(st.tensor(n).unwrap().data());
    }
    let v1_sum: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let v1 = rewrite(
        &bytes,
        |_, _| {},
        |m| {
            m.insert("format_version".into(), "1".into());
            m.insert("sha256".into(), v1_sum.clone());
        },
        true,
    );
    std::fs::write(&path, &v1).unwrap();
    let loaded = persist::load_with(&path, LOADER).unwrap();
    assert_eq!(loaded.train, fixed_mf::fixture().train);
    let info = persist::inspect(&path).unwrap();
    assert_eq!(info.format_version, 1);
    assert!(!info.metadata_verified);
    // Its tensors are still checked.
    let flipped = rewrite(
        &v1,
        |n, d| {
            if n == "train.values" {
                d[0] ^= 1
            }
        },
        |_| {},
        true,
    );
    std::fs::write(&path, flipped).unwrap();
    assert_bad(&path, "checksum mismatch");
    // Saved again, it is version 2 with everything covered.
    persist::save(&loaded, &path).unwrap();
    let info = persist::inspect(&path).unwrap();
    assert_eq!(info.format_version, persist::FORMAT_VERSION);
    assert!(info.metadata_verified);
}
