//! The commands over a real (small, quickly trained) I-AutoRec model file:
//! info, recommend (known user, new user, all users), predict, similar, and
//! `aerec serve` as a process: SIGHUP reloads, a bad file keeps the old
//! model, SIGTERM stops it cleanly.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aerec::data::synth::{generate, SynthConfig};
use aerec::data::RatingScale;
use aerec::model::autoencoder::config::{AutoencoderConfig, Based};
use aerec::model::{FitOptions, ModelSpec};
use aerec::TrainedModel;
use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

fn train(epochs: usize) -> TrainedModel {
    let ratings = generate(&SynthConfig::custom(120, 200, 3000, 7)).unwrap();
    let spec = ModelSpec::new(AutoencoderConfig {
        based: Based::Item,
        layers: vec![16],
        epochs,
        ..AutoencoderConfig::default()
    })
    .unwrap();
    let scale = RatingScale::new(1.0, 5.0).unwrap();
    let mut m =
        TrainedModel::fit(&spec, &ratings, None, None, scale, &FitOptions::default()).unwrap();
    let first_item = m.item_ids.id(0).to_string();
    m.titles.insert(first_item, "First Item (2001)".into());
    m
}

struct Fixture {
    dir: tempfile::TempDir,
    model: PathBuf,
    trained: TrainedModel,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.aerec");
    let trained = train(2);
    aerec::persist::save(&trained, &model).unwrap();
    Fixture {
        dir,
        model,
        trained,
    }
}

fn aerec(args: &[&str]) -> (bool, String, String) {
    let out = Command::cargo_bin("aerec")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn info_recommend_predict_similar() {
    let f = fixture();
    let m = p(&f.model);
    let (ok, out, err) = aerec(&["info", m, "--json"]);
    assert!(ok, "{err}");
    let info = json_of(&out);
    assert_eq!(info["kind"], "autoencoder");
    assert_eq!(info["stats"]["users"], f.trained.n_users());
    assert_eq!(info["fit_report"]["epochs"], 2);
    let (ok, human, _) = aerec(&["info", m]);
    assert!(ok && human.contains("model:     autoencoder") && human.contains("(verified)"));

    // A known user: n items, none of them rated in training, best first.
    let user = f.trained.user_ids.id(0).to_string();
    let (ok, out, err) = aerec(&[
        "recommend",
        "--model",
        m,
        "--user",
        &user,
        "-n",
        "5",
        "--json",
    ]);
    assert!(ok, "{err}");
    let recs = json_of(&out);
    let items = recs["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let (rated, _) = f.trained.train.row(0);
    for r in items {
        let i = f.trained.item_ids.get(r["item"].as_str().unwrap()).unwrap();
        assert!(rated.binary_search(&i).is_err(), "recommended a rated item");
        let rating = r["rating"].as_f64().unwrap();
        assert!((1.0..=5.0).contains(&rating), "not clipped: {rating}");
    }
    let scores: Vec<f64> = items.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    let (ok, _, err) = aerec(&["recommend", "--model", m, "--user", "nobody"]);
    assert!(!ok && err.contains("unknown user \"nobody\""), "{err}");

    // A new user from a file, with an item the model does not know.
    let new = f.dir.path().join("new.csv");
    let (a, b) = (f.trained.item_ids.id(0), f.trained.item_ids.id(1));
    std::fs::write(&new, format!("item,rating\n{a},5\n{b},2\nnot-an-item,4\n")).unwrap();
    let (ok, out, err) = aerec(&[
        "recommend",
        "--model",
        m,
        "--ratings",
        p(&new),
        "-n",
        "3",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(
        err.contains("ignored 1 item(s) the model does not know: not-an-item"),
        "{err}"
    );
    let recs = json_of(&out);
    assert_eq!(recs["used_ratings"], 2);
    assert_eq!(recs["items"].as_array().unwrap().len(), 3);
    std::fs::write(&new, format!("{a},5\n{b},7\n")).unwrap();
    let (ok, _, err) = aerec(&["recommend", "--model", m, "--ratings", p(&new)]);
    assert!(!ok && err.contains("line 2: rating 7"), "{err}");

    // Every user, streamed to a file in user order.
    let all = f.dir.path().join("recs.csv");
    let (ok, out, err) = aerec(&[
        "recommend",
        "--model",
        m,
        "--all-users",
        "--out",
        p(&all),
        "-n",
        "2",
        "-q",
        "--json",
    ]);
    assert!(ok, "{err}");
    // The synthetic set's heaviest users may have rated all but one item.
    let t = &f.trained;
    let expected: usize = (0..t.n_users())
        .map(|u| 2.min(t.n_items() - t.train.row_len(u)))
        .sum();
    assert_eq!(json_of(&out)["rows"], expected);
    let text = std::fs::read_to_string(&all).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "user,rank,item,rating");
    assert_eq!(lines.len(), 1 + expected);
    assert!(lines[1].starts_with(&format!("{user},1,")));

    // Pairs: known, unknown user, unknown item.
    let pairs = f.dir.path().join("pairs.csv");
    let preds = f.dir.path().join("preds.csv");
    std::fs::write(
        &pairs,
        format!("user,item\n{user},{a}\nghost,{a}\n{user},ghost\n"),
    )
    .unwrap();
    let (ok, _, err) = aerec(&[
        "predict",
        "--model",
        m,
        "--pairs",
        p(&pairs),
        "--out",
        p(&preds),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&preds).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(rows[0], ["user", "item", "prediction", "fallback"]);
    assert_eq!(
        (rows[1][3], rows[2][3], rows[3][3]),
        ("", "unknown_user", "unknown_item")
    );

    // Similar items: the item itself is never among them.
    let (ok, out, err) = aerec(&["similar", "--model", m, "--item", a, "-n", "4", "--json"]);
    assert!(ok, "{err}");
    let sim = json_of(&out);
    let list = sim["similar"].as_array().unwrap();
    assert_eq!(list.len(), 4);
    assert!(list
        .iter()
        .all(|s| s["item"] != a && s["similarity"].as_f64().unwrap() <= 1.0 + 1e-6));
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

fn get(url: &str) -> Value {
    reqwest::blocking::get(url).unwrap().json().unwrap()
}

/// Polls `url` until `pred` holds (bounded: 10 s).
fn wait_for(url: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let v = get(url);
        if pred(&v) || start.elapsed() > Duration::from_secs(10) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(unix)]
#[test]
fn serve_process_reloads_on_sighup_and_stops_on_sigterm() {
    let f = fixture();
    let mut child = Command::cargo_bin("aerec")
        .unwrap()
        .args(["serve", "--model", p(&f.model), "--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let base = first[first.find("http://").expect(&first)..].to_string();
    let model_url = format!("{base}/v1/model");
    assert_eq!(get(&format!("{base}/health"))["status"], "ok");
    assert_eq!(get(&model_url)["epochs"], 2);

    // A corrupt file: SIGHUP logs why and the old model keeps serving.
    std::fs::write(&f.model, b"garbage").unwrap();
    signal(child.id(), "-HUP");
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        line.contains("reload failed, old model still serving"),
        "{line}"
    );
    assert_eq!(get(&model_url)["epochs"], 2);

    // A good file: SIGHUP swaps it in.
    aerec::persist::save(&train(3), &f.model).unwrap();
    signal(child.id(), "-HUP");
    assert_eq!(wait_for(&model_url, |v| v["epochs"] == 3)["epochs"], 3);
    let user = f.trained.user_ids.id(0);
    let recs = get(&format!("{base}/v1/users/{user}/recommendations?n=3"));
    assert_eq!(recs["items"].as_array().unwrap().len(), 3);

    signal(child.id(), "-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
