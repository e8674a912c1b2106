//! Hostile input to the `aerec` binary (issue 14): every case runs the built
//! binary under a timeout (no hang), and checks the exit code (never 101, a
//! panic, or a signal such as 134, an abort), the error text a user needs,
//! and that no output file was lost or half-written (a prior good file stays
//! byte for byte, no temporary is left behind).
//!
//! Inputs are tiny (30 users × 20 items) and epochs few: the whole file runs
//! in seconds. HTTP cases start `aerec serve` with one-second deadlines.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any one command may take before the case counts as a hang.
const LIMIT: Duration = Duration::from_secs(60);

fn aerec() -> PathBuf {
    assert_cmd::cargo::cargo_bin("aerec")
}

/// What a finished run left.
#[derive(Debug)]
struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    seconds: f64,
}

impl Outcome {
    /// Fails unless the run ended with `code` and stderr holds every piece.
    #[track_caller]
    fn expect(&self, code: i32, pieces: &[&str]) -> &Self {
        assert_eq!(self.code, code, "exit code; {self:#?}");
        for p in pieces {
            assert!(self.stderr.contains(p), "stderr lacks {p:?}; {self:#?}");
        }
        self
    }

    /// An error (exit 1) whose message holds every piece.
    #[track_caller]
    fn fails_with(&self, pieces: &[&str]) -> &Self {
        self.expect(1, pieces)
    }

    /// A usage error (exit 2) naming every piece.
    #[track_caller]
    fn usage_error(&self, pieces: &[&str]) -> &Self {
        self.expect(2, pieces)
    }
}

/// Runs `aerec args…` in `dir` with extra environment, under [`LIMIT`].
fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let start = Instant::now();
    let mut cmd = Command::new(aerec());
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("AEREC_ADMIN_TOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = r.read_to_end(&mut s);
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let (out, err) = (read(Box::new(out)), read(Box::new(err)));
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hang: `aerec {}` ran past {LIMIT:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let outcome = Outcome {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        seconds: start.elapsed().as_secs_f64(),
    };
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert!(
            status.signal().is_none(),
            "killed by signal {:?} (an abort is 6): {outcome:#?}",
            status.signal()
        );
    }
    assert_ne!(outcome.code, 101, "a panic: {outcome:#?}");
    assert!(
        !outcome.stderr.contains("panicked at"),
        "a panic: {outcome:#?}"
    );
    outcome
}

fn run(dir: &Path, args: &[&str]) -> Outcome {
    run_env(dir, args, &[])
}

/// 30 users × 20 items, about 300 ratings 1..5, MovieLens 100K layout.
fn tiny_ratings() -> String {
    let mut text = String::new();
    let mut state = 12345u64;
    for u in 1..=30u64 {
        for i in 1..=20u64 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (state >> 33) % 2 == 0 {
                let r = 1 + (u + i + (state >> 40) % 3) % 5;
                text.push_str(&format!("{u}\t{i}\t{r}\t{}\n", 880_000_000 + u * 100 + i));
            }
        }
    }
    text
}

/// A working directory with `u.data` (the tiny set) and, trained once per
/// test process, `mf.aerec` and `mean.aerec`.
struct Shared {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn shared() -> &'static Path {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    &SHARED
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().to_path_buf();
            std::fs::write(path.join("u.data"), tiny_ratings()).unwrap();
            for (name, args) in [
                ("mf.aerec", &["--model", "mf", "--epochs", "3"][..]),
                ("mean.aerec", &["--model", "mean"][..]),
            ] {
                let mut all = vec!["-q", "train", "--data", "u.data", "--k", "0", "--out", name];
                all.extend_from_slice(args);
                run(&path, &all).expect(0, &[]);
            }
            Shared { _dir: dir, path }
        })
        .path
}

/// A fresh directory holding a copy of the shared files.
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in ["u.data", "mf.aerec", "mean.aerec"] {
        std::fs::copy(shared().join(name), dir.path().join(name)).unwrap();
    }
    dir
}

const GOOD: &[u8] = b"a previous, complete output\n";

/// Writes [`GOOD`] to `dir/name` and returns the path.
fn good_file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, GOOD).unwrap();
    p
}

/// The file still holds [`GOOD`] and no temporary is left in its directory.
#[track_caller]
fn intact(path: &Path) {
    assert_eq!(
        std::fs::read(path).unwrap(),
        GOOD,
        "{} changed",
        path.display()
    );
    no_temporaries(path.parent().unwrap());
}

#[track_caller]
fn no_temporaries(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "temporaries left: {left:?}");
}

fn train_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["-q", "train", "--data", "u.data", "--k", "0"];
    a.extend_from_slice(extra);
    a
}

// ---------------------------------------------------------------------------
// 1. Sizes: refused with the estimate and the flag, before any allocation.

#[test]
fn layers_that_overflow_are_refused() {
    let d = workdir();
    let o = run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "1",
            "--layers",
            "5000000000000000000",
        ]),
    );
    o.fails_with(&["autoencoder model", "--layers"]);
}

#[test]
fn factors_that_overflow_are_refused() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "mf", "--factors", "5000000000000000000"]),
    )
    .fails_with(&["mf model", "--factors"]);
}

#[test]
fn svdpp_factors_that_overflow_are_refused() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "svdpp", "--factors", "5000000000000000000"]),
    )
    .fails_with(&["svdpp model", "--factors"]);
}

#[test]
fn a_billion_wide_layer_is_refused_with_its_size() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "1",
            "--layers",
            "1000000000",
        ]),
    )
    .fails_with(&["needs about", "bytes", "--layers"]);
}

#[test]
fn a_huge_second_layer_is_refused() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "deep",
            "--epochs",
            "1",
            "--layers",
            "8,4000000000000",
        ]),
    )
    .fails_with(&["--layers"]);
}

#[test]
fn a_batch_larger_than_the_data_still_trains() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "1",
            "--layers",
            "8",
            "--batch-size",
            "1000000000000",
        ]),
    )
    .expect(0, &[]);
}

#[test]
fn a_huge_factor_count_for_svd_is_lowered_not_allocated() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "svd", "--factors", "5000000000000000000"]),
    )
    .expect(0, &[]);
}

// ---------------------------------------------------------------------------
// 2. Atomic outputs: a failed or killed write leaves the previous file.

#[test]
fn predict_failure_keeps_the_previous_output() {
    let d = workdir();
    let out = good_file(d.path(), "p.csv");
    std::fs::write(d.path().join("pairs.csv"), "1,1\n2\n").unwrap();
    run(
        d.path(),
        &[
            "predict",
            "--model",
            "mf.aerec",
            "--pairs",
            "pairs.csv",
            "--out",
            "p.csv",
        ],
    )
    .fails_with(&["pairs.csv", "line 2"]);
    intact(&out);
}

#[test]
fn predict_writes_a_whole_file_over_an_old_one() {
    let d = workdir();
    good_file(d.path(), "p.csv");
    std::fs::write(d.path().join("pairs.csv"), "user,item\n1,1\n2,3\n").unwrap();
    run(
        d.path(),
        &[
            "predict",
            "--model",
            "mf.aerec",
            "--pairs",
            "pairs.csv",
            "--out",
            "p.csv",
        ],
    )
    .expect(0, &[]);
    let text = std::fs::read_to_string(d.path().join("p.csv")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    no_temporaries(d.path());
}

#[test]
fn recommend_all_users_failure_keeps_the_previous_output() {
    let d = workdir();
    let out = good_file(d.path(), "r.csv");
    std::fs::write(d.path().join("bad.aerec"), b"not a model").unwrap();
    run(
        d.path(),
        &[
            "recommend",
            "--model",
            "bad.aerec",
            "--all-users",
            "--out",
            "r.csv",
        ],
    )
    .fails_with(&["bad.aerec", "model file"]);
    intact(&out);
}

#[test]
fn recommend_all_users_replaces_the_file_whole() {
    let d = workdir();
    good_file(d.path(), "r.csv");
    run(
        d.path(),
        &[
            "recommend",
            "--model",
            "mf.aerec",
            "--all-users",
            "--out",
            "r.csv",
            "-n",
            "2",
        ],
    )
    .expect(0, &[]);
    let text = std::fs::read_to_string(d.path().join("r.csv")).unwrap();
    assert!(text.starts_with("user,rank,item,rating"), "{text}");
    assert_eq!(text.lines().count(), 1 + 30 * 2);
    no_temporaries(d.path());
}

#[test]
fn a_diverging_train_keeps_every_previous_output() {
    let d = workdir();
    let model = good_file(d.path(), "m.aerec");
    let history = good_file(d.path(), "h.csv");
    let plot = good_file(d.path(), "p.svg");
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--layers",
            "16",
            "--epochs",
            "3",
            "--lr",
            "1e10",
            "--out",
            "m.aerec",
            "--history",
            "h.csv",
            "--plot",
            "p.svg",
        ]),
    )
    .fails_with(&["training diverged", "epoch", "--lr"]);
    intact(&model);
    intact(&history);
    intact(&plot);
}

#[cfg(unix)]
#[test]
fn a_killed_write_leaves_the_old_files_and_the_next_run_cleans_up() {
    let d = workdir();
    let out = d.path().join("synth");
    std::fs::create_dir(&out).unwrap();
    let train = good_file(&out, "train.csv");
    let mut child = Command::new(aerec())
        .args([
            "-q",
            "synth",
            "--shape",
            "custom",
            "--users",
            "200000",
            "--items",
            "5000",
            "--ratings",
            "20000000",
            "--out",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the temporaries exist (the write is under way), then kill.
    let start = Instant::now();
    while std::fs::read_dir(&out).unwrap().count() < 3 && start.elapsed() < LIMIT {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(50));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read(&train).unwrap(),
        GOOD,
        "killed mid-write: old file kept"
    );
    assert!(!out.join("test.csv").exists(), "no cut test.csv appears");
    // The next write of the same files removes the dead process's temporaries.
    run(
        d.path(),
        &[
            "-q",
            "synth",
            "--shape",
            "custom",
            "--users",
            "50",
            "--items",
            "20",
            "--ratings",
            "300",
            "--out",
            "synth",
        ],
    )
    .expect(0, &[]);
    no_temporaries(&out);
    let text = std::fs::read_to_string(&train).unwrap();
    assert!(text.starts_with("user,item,rating,timestamp\n"), "{text}");
}

#[test]
fn split_parts_are_whole_files() {
    let d = workdir();
    run(d.path(), &["-q", "split", "u.data", "--out", "parts"]).expect(0, &[]);
    let train = std::fs::read_to_string(d.path().join("parts/train.csv")).unwrap();
    let test = std::fs::read_to_string(d.path().join("parts/test.csv")).unwrap();
    let rows = tiny_ratings().lines().count();
    assert_eq!(train.lines().count() + test.lines().count() - 2, rows);
    no_temporaries(&d.path().join("parts"));
}

// ---------------------------------------------------------------------------
// 3. An output path that is an input is refused, and the input survives.

#[test]
fn train_out_over_its_own_data_is_refused() {
    let d = workdir();
    std::fs::copy(d.path().join("u.data"), d.path().join("x.tsv")).unwrap();
    let before = std::fs::read(d.path().join("x.tsv")).unwrap();
    run(
        d.path(),
        &[
            "train", "--data", "x.tsv", "--model", "mean", "--out", "x.tsv",
        ],
    )
    .fails_with(&["--out x.tsv", "input file"]);
    assert_eq!(std::fs::read(d.path().join("x.tsv")).unwrap(), before);
}

#[test]
fn history_over_the_data_is_refused() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--history", "u.data"]),
    )
    .fails_with(&["--history", "input file"]);
}

#[cfg(unix)]
#[test]
fn a_symlink_to_the_data_is_the_data() {
    let d = workdir();
    std::os::unix::fs::symlink(d.path().join("u.data"), d.path().join("link.tsv")).unwrap();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--out", "link.tsv"]),
    )
    .fails_with(&["input file"]);
    assert_eq!(
        std::fs::read_to_string(d.path().join("u.data")).unwrap(),
        tiny_ratings()
    );
}

#[test]
fn a_hard_link_to_the_data_is_the_data() {
    let d = workdir();
    std::fs::hard_link(d.path().join("u.data"), d.path().join("same.tsv")).unwrap();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--plot", "same.tsv"]),
    )
    .fails_with(&["input file"]);
}

#[test]
fn predict_out_over_its_pairs_is_refused() {
    let d = workdir();
    std::fs::write(d.path().join("pairs.csv"), "1,1\n").unwrap();
    run(
        d.path(),
        &[
            "predict",
            "--model",
            "mf.aerec",
            "--pairs",
            "pairs.csv",
            "--out",
            "pairs.csv",
        ],
    )
    .fails_with(&["input file"]);
    assert_eq!(
        std::fs::read_to_string(d.path().join("pairs.csv")).unwrap(),
        "1,1\n"
    );
}

#[test]
fn recommend_out_over_the_model_is_refused() {
    let d = workdir();
    let before = std::fs::read(d.path().join("mf.aerec")).unwrap();
    run(
        d.path(),
        &[
            "recommend",
            "--model",
            "mf.aerec",
            "--all-users",
            "--out",
            "mf.aerec",
        ],
    )
    .fails_with(&["input file"]);
    assert_eq!(std::fs::read(d.path().join("mf.aerec")).unwrap(), before);
}

#[test]
fn tune_out_over_its_config_is_refused() {
    let d = workdir();
    std::fs::write(
        d.path().join("t.toml"),
        "model = \"mf\"\nepochs = 1\n[search]\nfactors = [2, 3]\n",
    )
    .unwrap();
    run(
        d.path(),
        &[
            "tune", "--config", "t.toml", "--data", "u.data", "--out", "t.toml",
        ],
    )
    .fails_with(&["--out t.toml", "input file"]);
}

#[test]
fn compare_csv_over_the_data_is_refused() {
    let d = workdir();
    std::fs::write(
        d.path().join("c.toml"),
        "[[models]]\nname = \"mean\"\nmodel = \"mean\"\n",
    )
    .unwrap();
    run(
        d.path(),
        &[
            "compare", "--config", "c.toml", "--data", "u.data", "--csv", "u.data",
        ],
    )
    .fails_with(&["--csv u.data", "input file"]);
}

#[test]
fn split_into_the_directory_of_its_input_part_is_refused() {
    let d = workdir();
    run(d.path(), &["-q", "split", "u.data", "--out", "parts"]).expect(0, &[]);
    run(d.path(), &["split", "parts/train.csv", "--out", "parts"])
        .fails_with(&["train.csv", "input file"]);
}

// ---------------------------------------------------------------------------
// 4. Output directories are checked before training.

#[test]
fn out_into_a_missing_directory_fails_before_training() {
    let d = workdir();
    let o = run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "100000",
            "--out",
            "no/such/m.aerec",
        ]),
    );
    o.fails_with(&["--out no/such/m.aerec", "does not exist"]);
    assert!(o.seconds < 30.0);
}

#[test]
fn history_into_a_missing_directory_fails_before_training() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "100000",
            "--history",
            "gone/h.csv",
        ]),
    )
    .fails_with(&["--history", "does not exist"]);
}

#[test]
fn plot_into_a_missing_directory_fails_before_training() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "100000",
            "--plot",
            "gone/p.png",
        ]),
    )
    .fails_with(&["--plot", "does not exist"]);
}

#[test]
fn a_plot_of_an_unknown_format_fails_before_training() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset", "autorec", "--epochs", "100000", "--plot", "p.jpg",
        ]),
    )
    .fails_with(&[".png or .svg"]);
}

#[test]
fn an_output_that_is_a_directory_is_refused() {
    let d = workdir();
    std::fs::create_dir(d.path().join("adir")).unwrap();
    let o = run(
        d.path(),
        &train_args(&["--model", "mean", "--plot", "adir"]),
    );
    o.fails_with(&["--plot adir", "is a directory"]);
    assert!(!o.stderr.contains("ImageError") && !o.stderr.contains("IoError("));
}

#[cfg(unix)]
#[test]
fn an_unwritable_directory_fails_before_training() {
    use std::os::unix::fs::PermissionsExt;
    let d = workdir();
    let locked = d.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), b"x").is_ok() {
        eprintln!("skipped: this user (root?) can write a 0555 directory");
        return;
    }
    run(
        d.path(),
        &train_args(&[
            "--preset",
            "autorec",
            "--epochs",
            "100000",
            "--out",
            "locked/m.aerec",
        ]),
    )
    .fails_with(&["--out", "cannot create a file"]);
}

// ---------------------------------------------------------------------------
// 5. Temporaries of killed saves are cleaned on the next save.

#[cfg(unix)]
#[test]
fn stale_temporaries_are_removed_on_the_next_save() {
    let d = workdir();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let stale = d.path().join(format!(".m.aerec.tmp-{dead}"));
    std::fs::write(&stale, vec![0u8; 1 << 20]).unwrap();
    let live = d
        .path()
        .join(format!(".m.aerec.tmp-{}", std::process::id()));
    std::fs::write(&live, b"a save in progress").unwrap();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--out", "m.aerec"]),
    )
    .expect(0, &[]);
    assert!(!stale.exists(), "the dead save's temporary is removed");
    assert!(live.exists(), "a live process's temporary is kept");
}

// ---------------------------------------------------------------------------
// 6, 7, 12. The HTTP service: deadlines, shutdown, admin token, --max-n.

/// `aerec serve` on a free port; killed on drop.
struct Serve {
    child: Child,
    addr: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start(dir: &Path, model: &str, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        use std::io::BufRead;
        let mut cmd = Command::new(aerec());
        cmd.args(["serve", "--model", model, "--addr", "127.0.0.1:0"])
            .args(extra)
            .current_dir(dir)
            .env_remove("AEREC_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                if tx.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let addr = loop {
            let line = lines.recv_timeout(LIMIT).expect("serve prints its address");
            if let Some(at) = line.find("http://") {
                break line[at + 7..].trim().to_string();
            }
        };
        Serve { child, addr, lines }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// Sends raw bytes on a new connection and reads until the server closes.
    fn exchange(&self, raw: &[u8]) -> String {
        let mut s = self.connect();
        s.write_all(raw).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let text = self.exchange(raw.as_bytes());
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (code, body)
    }

    /// Sends `signal` and waits for the exit; the seconds it took.
    #[cfg(unix)]
    fn signal_and_wait(&mut self, signal: &str) -> f64 {
        let start = Instant::now();
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        self.wait_exit(start)
    }

    fn wait_exit(&mut self, start: Instant) -> f64 {
        loop {
            if self.child.try_wait().unwrap().is_some() {
                return start.elapsed().as_secs_f64();
            }
            assert!(start.elapsed() < LIMIT, "the service did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const FAST: [&str; 6] = [
    "--header-timeout",
    "1",
    "--body-timeout",
    "1",
    "--shutdown-grace",
    "1",
];

#[test]
fn half_sent_headers_are_cut_off() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let start = Instant::now();
    let reply = s.exchange(b"GET /health HTTP/1.1\r\nHost: x\r\n");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "held {:?}",
        start.elapsed()
    );
    assert!(!reply.contains("200 OK"), "{reply}");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let mut c = s.connect();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let start = Instant::now();
    let mut all = Vec::new();
    let _ = c.read_to_end(&mut all);
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "idle for {:?}",
        start.elapsed()
    );
}

#[test]
fn half_sent_bodies_get_408() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let start = Instant::now();
    let reply = s.exchange(
        b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"pairs\":",
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("did not arrive"), "{reply}");
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[test]
fn a_declared_oversized_body_is_refused_before_it_is_sent() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &["--max-body-bytes", "1000"], &[]);
    let mut c = s.connect();
    c.write_all(
        b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000000000\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("1000000000"), "{text}");
}

#[cfg(unix)]
#[test]
fn sigterm_with_a_half_sent_request_stops_within_the_grace() {
    let d = workdir();
    let mut s = Serve::start(
        d.path(),
        "mf.aerec",
        &["--header-timeout", "60", "--shutdown-grace", "1"],
        &[],
    );
    let mut c = s.connect();
    c.write_all(b"POST /v1/predictions HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let seconds = s.signal_and_wait("-TERM");
    assert!(seconds < 10.0, "stopped after {seconds} s");
}

#[cfg(unix)]
#[test]
fn a_second_signal_stops_at_once() {
    let d = workdir();
    let mut s = Serve::start(
        d.path(),
        "mf.aerec",
        &[
            "--header-timeout",
            "60",
            "--body-timeout",
            "60",
            "--shutdown-grace",
            "60",
        ],
        &[],
    );
    let mut c = s.connect();
    c.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    // The first signal is seen once the "stopping" line is printed.
    loop {
        let line = s.lines.recv_timeout(LIMIT).unwrap();
        if line.contains("signal again") {
            break;
        }
    }
    let seconds = s.signal_and_wait("-INT");
    assert!(seconds < 10.0 && start.elapsed() < Duration::from_secs(20));
}

#[test]
fn idle_sockets_do_not_block_requests() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let idle: Vec<TcpStream> = (0..64).map(|_| s.connect()).collect();
    let (code, body) = s.request("GET", "/health", &[], "");
    assert_eq!(code, 200, "{body}");
    drop(idle);
}

#[test]
fn admin_routes_are_off_without_a_token() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let (code, body) = s.request("POST", "/v1/admin/reload", &["Origin: http://evil"], "");
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("AEREC_ADMIN_TOKEN"), "{body}");
}

#[test]
fn admin_routes_need_the_right_token() {
    let d = workdir();
    let s = Serve::start(
        d.path(),
        "mf.aerec",
        &FAST,
        &[("AEREC_ADMIN_TOKEN", "s3cret")],
    );
    let (code, body) = s.request("POST", "/v1/admin/reload", &[], "");
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("Authorization: Bearer"), "{body}");
    let (code, _) = s.request(
        "POST",
        "/v1/admin/reload",
        &["Authorization: Bearer guess"],
        "",
    );
    assert_eq!(code, 401);
    let (code, body) = s.request(
        "POST",
        "/v1/admin/reload",
        &["Authorization: Bearer s3cret"],
        "",
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"reloaded\":true"), "{body}");
}

#[test]
fn an_admin_token_file_is_read() {
    let d = workdir();
    std::fs::write(d.path().join("token"), "from-a-file\n").unwrap();
    let s = Serve::start(d.path(), "mf.aerec", &["--admin-token-file", "token"], &[]);
    let (code, body) = s.request(
        "POST",
        "/v1/admin/reload",
        &["Authorization: Bearer from-a-file"],
        "",
    );
    assert_eq!(code, 200, "{body}");
}

#[test]
fn an_empty_or_missing_token_file_is_an_error() {
    let d = workdir();
    std::fs::write(d.path().join("empty"), "\n").unwrap();
    run(
        d.path(),
        &[
            "serve",
            "--model",
            "mf.aerec",
            "--addr",
            "127.0.0.1:0",
            "--admin-token-file",
            "empty",
        ],
    )
    .fails_with(&["first line is empty"]);
    run(
        d.path(),
        &[
            "serve",
            "--model",
            "mf.aerec",
            "--addr",
            "127.0.0.1:0",
            "--admin-token-file",
            "nope",
        ],
    )
    .fails_with(&["nope", "No such file"]);
}

#[test]
fn a_failed_reload_answers_500_and_keeps_serving() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[("AEREC_ADMIN_TOKEN", "t")]);
    std::fs::write(d.path().join("mf.aerec"), b"garbage").unwrap();
    let (code, body) = s.request("POST", "/v1/admin/reload", &["Authorization: Bearer t"], "");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("previous model is still serving"), "{body}");
    let (code, _) = s.request("GET", "/v1/users/1/recommendations?n=2", &[], "");
    assert_eq!(code, 200);
}

#[test]
fn similar_on_a_model_without_item_vectors_is_501() {
    let d = workdir();
    let s = Serve::start(d.path(), "mean.aerec", &FAST, &[]);
    let (code, body) = s.request("GET", "/v1/items/1/similar", &[], "");
    assert_eq!(code, 501, "{body}");
    assert!(body.contains("\"error\""), "{body}");
    let (_, doc) = s.request("GET", "/openapi.json", &[], "");
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    let similar = &doc["paths"]["/v1/items/{id}/similar"]["get"]["responses"];
    assert!(similar["501"].is_object(), "{similar}");
    let reload = &doc["paths"]["/v1/admin/reload"]["post"]["responses"];
    for code in ["401", "403", "500"] {
        assert!(reload[code].is_object(), "{code}: {reload}");
    }
}

#[test]
fn a_rating_off_the_scale_names_the_item_once() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let (code, body) = s.request(
        "POST",
        "/v1/recommendations",
        &["Content-Type: application/json"],
        r#"{"ratings":[{"item":"1","rating":50}]}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("rating 50") && body.contains("item \\\"1\\\""),
        "{body}"
    );
    assert!(!body.contains("rating 1 ("), "{body}");
}

#[test]
fn a_new_user_rating_an_item_twice_over_http_is_400() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let (code, body) = s.request(
        "POST",
        "/v1/recommendations",
        &["Content-Type: application/json"],
        r#"{"ratings":[{"item":"1","rating":4},{"item":"1","rating":5}]}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(
        body.contains("rated twice") && !body.contains("invalid configuration"),
        "{body}"
    );
}

#[test]
fn a_new_user_with_nothing_known_over_http_is_400() {
    let d = workdir();
    let s = Serve::start(d.path(), "mf.aerec", &FAST, &[]);
    let (code, body) = s.request(
        "POST",
        "/v1/recommendations",
        &["Content-Type: application/json"],
        r#"{"ratings":[{"item":"zzz","rating":4}]}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("nothing to fold in"), "{body}");
}

#[test]
fn serve_max_n_zero_is_refused() {
    let d = workdir();
    run(d.path(), &["serve", "--model", "mf.aerec", "--max-n", "0"]).fails_with(&["--max-n 0"]);
}

#[test]
fn address_in_use_names_the_address() {
    let d = workdir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    run(d.path(), &["serve", "--model", "mf.aerec", "--addr", &addr])
        .fails_with(&[&format!("cannot listen on {addr}")]);
}

// ---------------------------------------------------------------------------
// 8. Threads.

#[test]
fn a_huge_thread_count_is_refused_at_once() {
    let d = workdir();
    let o = run(d.path(), &["stats", "u.data", "--threads", "100000"]);
    o.fails_with(&["--threads 100000", "more than"]);
    assert!(o.seconds < 10.0);
}

#[test]
fn zero_threads_is_refused() {
    let d = workdir();
    run(d.path(), &["stats", "u.data", "--threads", "0"]).fails_with(&["--threads"]);
}

#[test]
fn a_few_threads_work() {
    let d = workdir();
    run(d.path(), &["-q", "stats", "u.data", "--threads", "3"]).expect(0, &[]);
}

// ---------------------------------------------------------------------------
// 9. The checksum covers the metadata.

/// Replaces `from` by `to` (same length) in the file's bytes.
fn patch(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(path).unwrap();
    let at = bytes
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from} not in {}", path.display()));
    bytes[at..at + from.len()].copy_from_slice(to.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_edited_scale_is_a_checksum_mismatch() {
    let d = workdir();
    let m = d.path().join("mf.aerec");
    run(d.path(), &["info", "mf.aerec"]).expect(0, &[]);
    patch(&m, r#"\"max\":5.0"#, r#"\"max\":9.0"#);
    run(d.path(), &["info", "mf.aerec"]).fails_with(&["mf.aerec", "checksum mismatch"]);
    run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--user", "1"],
    )
    .fails_with(&["checksum mismatch"]);
}

#[test]
fn an_edited_kind_is_a_checksum_mismatch() {
    let d = workdir();
    let m = d.path().join("mean.aerec");
    patch(&m, r#""kind":"mean""#, r#""kind":"meen""#);
    run(d.path(), &["info", "mean.aerec"]).fails_with(&["checksum mismatch"]);
}

#[test]
fn info_says_verified() {
    let d = workdir();
    let o = run(d.path(), &["info", "mf.aerec"]);
    o.expect(0, &[]);
    assert!(o.stdout.contains("(verified)"), "{}", o.stdout);
}

// ---------------------------------------------------------------------------
// 10. Non-finite flags are rejected by name.

#[test]
fn lr_inf_is_rejected_for_mf() {
    let d = workdir();
    run(d.path(), &train_args(&["--model", "mf", "--lr", "inf"]))
        .usage_error(&["--lr", "not a finite number"]);
}

#[test]
fn lr_nan_is_rejected_for_autoencoders() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--preset", "autorec", "--lr", "NaN"]),
    )
    .usage_error(&["--lr", "not a finite number"]);
}

#[test]
fn relevant_nan_is_rejected() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--relevant", "NaN"]),
    )
    .usage_error(&["--relevant"]);
}

#[test]
fn every_float_flag_rejects_infinity() {
    let d = workdir();
    for flag in [
        "--l2",
        "--dropout",
        "--input-dropout",
        "--noise-std",
        "--momentum",
        "--weight-decay",
        "--clip-norm",
        "--test-fraction",
        "--valid-fraction",
        "--time-quantile",
    ] {
        run(
            d.path(),
            &train_args(&["--model", "mean", &format!("{flag}=-inf")]),
        )
        .usage_error(&[flag, "not a finite number"]);
    }
    for flag in ["--reg-u", "--reg-i", "--init-std", "--init-mean"] {
        run(d.path(), &train_args(&["--model", "mf", flag, "1e39"]))
            .usage_error(&[flag, "too large"]);
    }
}

#[test]
fn an_infinite_setting_in_a_config_file_names_its_key() {
    let d = workdir();
    std::fs::write(d.path().join("c.toml"), "model = \"mf\"\nlr = inf\n").unwrap();
    run(d.path(), &train_args(&["--config", "c.toml"])).fails_with(&["c.toml", "`lr` is inf"]);
}

#[test]
fn an_infinite_scale_is_rejected() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "mean", "--scale", "1:inf"]),
    )
    .usage_error(&["--scale", "finite"]);
}

// ---------------------------------------------------------------------------
// 11. Finite divergence is caught for every epoch-trained kind.

#[test]
fn autorec_at_lr_1e10_diverges_with_a_clear_error() {
    let d = workdir();
    let o = run(
        d.path(),
        &train_args(&[
            "--preset", "autorec", "--layers", "16", "--epochs", "3", "--lr", "1e10", "--out",
            "m.aerec",
        ]),
    );
    o.fails_with(&["training diverged: epoch", "lower the learning rate (--lr)"]);
    assert!(!d.path().join("m.aerec").exists(), "no model saved");
}

#[test]
fn mf_at_a_huge_lr_diverges() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "mf", "--epochs", "5", "--lr", "1e6"]),
    )
    .fails_with(&["training diverged", "epoch"]);
}

#[test]
fn svdpp_at_a_huge_lr_diverges() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&["--model", "svdpp", "--epochs", "5", "--lr", "1e6"]),
    )
    .fails_with(&["training diverged", "epoch"]);
}

#[test]
fn sgd_biases_at_a_huge_lr_diverge() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--model",
            "biases",
            "--biases-method",
            "sgd",
            "--epochs",
            "5",
            "--lr",
            "1e6",
        ]),
    )
    .fails_with(&["training diverged", "epoch"]);
}

#[test]
fn deep_preset_at_a_huge_lr_diverges() {
    let d = workdir();
    run(
        d.path(),
        &train_args(&[
            "--preset", "deep", "--layers", "8,4", "--epochs", "3", "--lr", "1e12",
        ]),
    )
    .fails_with(&["training diverged"]);
}

// ---------------------------------------------------------------------------
// 12. New users with nothing to fold in.

#[test]
fn a_new_user_with_only_unknown_items_is_an_error() {
    let d = workdir();
    std::fs::write(d.path().join("new.csv"), "item,rating\nzzz,4\nyyy,5\n").unwrap();
    run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--ratings", "new.csv"],
    )
    .fails_with(&["nothing to fold in"]);
}

#[test]
fn a_new_user_with_no_ratings_is_an_error() {
    let d = workdir();
    std::fs::write(d.path().join("new.csv"), "").unwrap();
    run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--ratings", "new.csv"],
    )
    .fails_with(&["nothing to fold in"]);
}

#[test]
fn a_new_users_duplicate_item_names_file_and_line() {
    let d = workdir();
    std::fs::write(d.path().join("new.csv"), "item,rating\n1,4\n2,3\n1,5\n").unwrap();
    let o = run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--ratings", "new.csv"],
    );
    o.fails_with(&["new.csv", "line 4", "rated twice (first on line 2)"]);
    assert!(!o.stderr.contains("invalid configuration"), "{o:#?}");
}

// ---------------------------------------------------------------------------
// 13. Messages.

#[test]
fn os_errors_are_printed_once() {
    let d = workdir();
    let o = run(d.path(), &["stats", "nosuch.tsv"]);
    o.fails_with(&["nosuch.tsv", "No such file"]);
    assert_eq!(o.stderr.matches("os error 2").count(), 1, "{o:#?}");
}

#[test]
fn a_gzip_file_gets_a_hint_to_decompress() {
    let d = workdir();
    std::fs::write(
        d.path().join("r.csv.gz"),
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00garbage",
    )
    .unwrap();
    run(d.path(), &["stats", "r.csv.gz"]).fails_with(&["gzip", "decompress it first"]);
}

#[test]
fn a_bad_npz_says_no_some() {
    let d = workdir();
    let mut bytes = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(&mut bytes));
        let opts = zip::write::SimpleFileOptions::default();
        let npy = |descr: &str, shape: &str, data: &[u8]| {
            let dict =
                format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
            let mut h = dict.into_bytes();
            while (10 + h.len() + 1) % 64 != 0 {
                h.push(b' ');
            }
            h.push(b'\n');
            let mut out = b"\x93NUMPY\x01\x00".to_vec();
            out.extend_from_slice(&(h.len() as u16).to_le_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out
        };
        let members: [(&str, Vec<u8>); 5] = [
            ("format.npy", npy("|S3", "()", b"csr")),
            (
                "shape.npy",
                npy("<i8", "(2,)", &[2i64, 2].map(i64::to_le_bytes).concat()),
            ),
            ("indptr.npy", npy("<i4", "(0,)", &[])),
            ("indices.npy", npy("<i4", "(1,)", &1i32.to_le_bytes())),
            ("data.npy", npy("<f4", "(1,)", &3f32.to_le_bytes())),
        ];
        for (name, b) in members {
            zip.start_file(name, opts).unwrap();
            zip.write_all(&b).unwrap();
        }
        zip.finish().unwrap();
    }
    std::fs::write(d.path().join("m.npz"), bytes).unwrap();
    let o = run(d.path(), &["stats", "m.npz"]);
    o.fails_with(&["m.npz", "indptr"]);
    assert!(!o.stderr.contains("Some("), "{o:#?}");
}

#[test]
fn a_bad_config_has_one_prefix() {
    let d = workdir();
    let o = run(
        d.path(),
        &train_args(&["--preset", "autorec", "--dropout", "1.5"]),
    );
    o.fails_with(&["dropout"]);
    assert_eq!(
        o.stderr.matches("invalid configuration").count(),
        1,
        "{o:#?}"
    );
}

#[test]
fn json_failures_end_stdout_with_an_error_object() {
    let d = workdir();
    let o = run(d.path(), &["--json", "stats", "nosuch.tsv"]);
    o.fails_with(&["nosuch.tsv"]);
    let last = o.stdout.lines().last().expect("a JSON line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert!(v["error"].as_str().unwrap().contains("nosuch.tsv"), "{v}");
}

#[test]
fn json_usage_errors_end_stdout_with_an_error_object() {
    let d = workdir();
    let o = run(d.path(), &["--json", "train", "--lr", "inf"]);
    o.usage_error(&["--lr"]);
    let v: serde_json::Value = serde_json::from_str(o.stdout.lines().last().unwrap()).unwrap();
    assert!(
        v["error"].is_string() && v["detail"].as_str().unwrap().contains("--lr"),
        "{v}"
    );
}

// ---------------------------------------------------------------------------
// Hostile inputs beyond the issue's list: files, ids, models.

#[test]
fn an_empty_data_file_is_an_error() {
    let d = workdir();
    std::fs::write(d.path().join("e.csv"), "").unwrap();
    run(d.path(), &["stats", "e.csv"]).fails_with(&["e.csv"]);
}

#[test]
fn binary_garbage_data_is_an_error() {
    let d = workdir();
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(d.path().join("junk.bin"), junk).unwrap();
    run(d.path(), &["stats", "junk.bin"]).fails_with(&["junk.bin"]);
}

#[test]
fn a_directory_as_data_is_an_error() {
    let d = workdir();
    std::fs::create_dir(d.path().join("dir")).unwrap();
    run(d.path(), &["stats", "dir"]).fails_with(&["dir", "directory"]);
}

#[test]
fn a_nan_rating_names_its_line() {
    let d = workdir();
    std::fs::write(d.path().join("n.tsv"), "1\t1\t4\t1\n1\t2\tNaN\t2\n").unwrap();
    run(d.path(), &["stats", "n.tsv"]).fails_with(&["n.tsv", "line 2"]);
}

#[test]
fn a_very_long_line_is_quoted_short() {
    let d = workdir();
    let line = format!("1,{},x\n", "9".repeat(100_000));
    std::fs::write(
        d.path().join("long.csv"),
        format!("user,item,rating\n{line}"),
    )
    .unwrap();
    let o = run(d.path(), &["stats", "long.csv"]);
    o.fails_with(&["long.csv"]);
    assert!(o.stderr.len() < 2000, "{} bytes of error", o.stderr.len());
}

#[test]
fn a_truncated_model_is_an_error() {
    let d = workdir();
    let bytes = std::fs::read(d.path().join("mf.aerec")).unwrap();
    std::fs::write(d.path().join("cut.aerec"), &bytes[..bytes.len() / 2]).unwrap();
    run(d.path(), &["info", "cut.aerec"]).fails_with(&["cut.aerec", "model file"]);
}

#[test]
fn a_text_file_as_model_is_an_error() {
    let d = workdir();
    run(d.path(), &["recommend", "--model", "u.data", "--user", "1"])
        .fails_with(&["u.data", "model file"]);
}

#[test]
fn an_unknown_user_is_named() {
    let d = workdir();
    run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--user", "nobody"],
    )
    .fails_with(&["unknown user \"nobody\""]);
}

#[test]
fn zero_recommendations_is_a_usage_error() {
    let d = workdir();
    run(
        d.path(),
        &["recommend", "--model", "mf.aerec", "--user", "1", "-n", "0"],
    )
    .usage_error(&["-n"]);
}

#[test]
fn zero_epochs_is_an_error() {
    let d = workdir();
    run(d.path(), &train_args(&["--model", "mf", "--epochs", "0"])).fails_with(&["epochs"]);
}

#[test]
fn split_into_an_existing_file_is_an_error() {
    let d = workdir();
    let f = good_file(d.path(), "afile");
    run(d.path(), &["split", "u.data", "--out", "afile"]).fails_with(&["afile", "not a directory"]);
    intact(&f);
}

#[test]
fn an_unknown_duplicates_policy_is_an_error() {
    let d = workdir();
    let o = run(d.path(), &["stats", "u.data", "--duplicates", "bogus"]);
    assert!(o.code == 1 || o.code == 2, "{o:#?}");
    assert!(o.stderr.contains("bogus"), "{o:#?}");
}

#[test]
fn similar_on_a_mean_model_is_an_error_not_a_panic() {
    let d = workdir();
    run(
        d.path(),
        &["similar", "--model", "mean.aerec", "--item", "1"],
    )
    .fails_with(&["item"]);
}

// ---------------------------------------------------------------------------
// Parquet (issue 18): a damaged file is an error naming it, never a panic.

/// The tiny set as Parquet (the `parquet` crate's writer, snappy, row groups
/// of 100 rows), or with the rating column replaced by `rating`.
fn tiny_parquet(rating: Option<arrow_array::ArrayRef>) -> Vec<u8> {
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    use std::sync::Arc;
    let rows: Vec<Vec<i64>> = tiny_ratings()
        .lines()
        .map(|l| l.split('\t').map(|f| f.parse().unwrap()).collect())
        .collect();
    let column = |k: usize| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r[k])))
    };
    let rating = rating.unwrap_or_else(|| {
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r[2] as f64),
        ))
    });
    let batch = RecordBatch::try_from_iter([
        ("userId", column(0)),
        ("movieId", column(1)),
        ("rating", rating),
        ("timestamp", column(3)),
    ])
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(100))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let mut bytes = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    bytes
}

/// `aerec stats` on `bytes` saved as `name`: an error naming the file and
/// every piece.
#[track_caller]
fn parquet_fails(name: &str, bytes: &[u8], pieces: &[&str]) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(name), bytes).unwrap();
    let mut all = vec![name];
    all.extend_from_slice(pieces);
    run(d.path(), &["stats", name]).fails_with(&all);
}

#[test]
fn a_good_parquet_file_reads_like_its_text() {
    let d = workdir();
    std::fs::write(d.path().join("r.parquet"), tiny_parquet(None)).unwrap();
    let text = run(d.path(), &["stats", "u.data", "--json"])
        .expect(0, &[])
        .stdout
        .clone();
    let pq = run(d.path(), &["stats", "r.parquet", "--json"])
        .expect(0, &[])
        .stdout
        .clone();
    let strip = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s.lines().last().unwrap()).unwrap();
        v["source"] = "".into();
        v["format"] = "".into();
        v
    };
    assert_eq!(strip(&text), strip(&pq));
}

#[test]
fn truncated_parquet_files_are_errors() {
    let good = tiny_parquet(None);
    for keep in [3, 4, 11, good.len() / 2, good.len() - 9, good.len() - 1] {
        parquet_fails("cut.parquet", &good[..keep], &["Parquet"]);
    }
}

#[test]
fn a_parquet_file_with_a_bad_magic_is_an_error() {
    let mut bytes = tiny_parquet(None);
    bytes[..4].copy_from_slice(b"PAR0");
    parquet_fails(
        "magic.parquet",
        &bytes,
        &["does not start with the magic bytes PAR1"],
    );
    let n = bytes.len();
    bytes[..4].copy_from_slice(b"PAR1");
    bytes[n - 4..].copy_from_slice(b"PARX");
    parquet_fails("tail.parquet", &bytes, &["not a readable Parquet file"]);
}

#[test]
fn a_corrupt_parquet_footer_length_is_an_error() {
    let good = tiny_parquet(None);
    let n = good.len();
    for len in [u32::MAX, 0x7fff_ffff, 0, 1, (n - 8) as u32 + 1] {
        let mut bytes = good.clone();
        bytes[n - 8..n - 4].copy_from_slice(&len.to_le_bytes());
        parquet_fails("footer.parquet", &bytes, &["Parquet"]);
    }
    // The metadata itself scrambled.
    let mut bytes = good.clone();
    let meta_len = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    for b in &mut bytes[n - 8 - meta_len..n - 8] {
        *b ^= 0x5a;
    }
    parquet_fails("meta.parquet", &bytes, &["Parquet"]);
}

#[test]
fn corrupt_parquet_pages_are_errors() {
    let good = tiny_parquet(None);
    // The first column chunk's page header starts right after the magic.
    for (at, len) in [(4, 16), (4, 4), (12, 40), (60, 200)] {
        let mut bytes = good.clone();
        for b in &mut bytes[at..at + len] {
            *b = 0xff;
        }
        parquet_fails("page.parquet", &bytes, &["Parquet"]);
    }
}

#[test]
fn a_parquet_rating_column_of_strings_is_an_error_naming_it() {
    use std::sync::Arc;
    let n = tiny_ratings().lines().count();
    let strings = Arc::new(arrow_array::StringArray::from_iter_values(
        (0..n).map(|_| "five"),
    ));
    parquet_fails(
        "types.parquet",
        &tiny_parquet(Some(strings)),
        &["column \"rating\" has type Utf8", "numbers"],
    );
}

#[test]
fn empty_and_zero_row_parquet_files_are_errors() {
    parquet_fails("empty.parquet", b"", &["empty file"]);
    parquet_fails("magic-only.parquet", b"PAR1PAR1", &["not a Parquet file"]);
    // A real file with no rows: the writer's own, from an empty batch.
    use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
    use std::sync::Arc;
    let batch = RecordBatch::try_from_iter([
        (
            "userId",
            Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
        ),
        (
            "movieId",
            Arc::new(Int64Array::from(Vec::<i64>::new())) as ArrayRef,
        ),
        (
            "rating",
            Arc::new(Float64Array::from(Vec::<f64>::new())) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut bytes = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    parquet_fails("zero.parquet", &bytes, &["no rows"]);
}

/// What [`refooted`] declares in place of the true numbers: rows of a row
/// group, size or offset of a column chunk (row group, column).
#[derive(Default)]
struct Declared {
    rows: Option<(usize, i64)>,
    size: Option<(usize, usize, i64)>,
    offset: Option<(usize, usize, i64)>,
}

/// The tiny file with its footer rewritten by the crate's own metadata
/// writer, declaring the numbers of `declared`.
fn refooted(declared: Declared) -> Vec<u8> {
    use parquet::file::metadata::{ParquetMetaDataReader, ParquetMetaDataWriter};
    let good = bytes::Bytes::from(tiny_parquet(None));
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&good)
        .unwrap();
    let n = good.len();
    let meta_len = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    let mut builder = meta.into_builder();
    let groups = builder
        .take_row_groups()
        .into_iter()
        .enumerate()
        .map(|(g, group)| {
            let columns = group
                .columns()
                .iter()
                .enumerate()
                .map(|(c, col)| {
                    let mut b = col.clone().into_builder();
                    if let Some((_, _, size)) = declared.size.filter(|d| (d.0, d.1) == (g, c)) {
                        b = b.set_total_compressed_size(size);
                    }
                    if let Some((_, _, at)) = declared.offset.filter(|d| (d.0, d.1) == (g, c)) {
                        b = b
                            .set_data_page_offset(at)
                            .set_dictionary_page_offset(Some(at));
                    }
                    b.build().unwrap()
                })
                .collect();
            let mut b = group.clone().into_builder().set_column_metadata(columns);
            if let Some((_, rows)) = declared.rows.filter(|d| d.0 == g) {
                b = b.set_num_rows(rows);
            }
            b.build().unwrap()
        })
        .collect();
    let meta = builder.set_row_groups(groups).build();
    let mut bytes = good[..n - 8 - meta_len].to_vec();
    ParquetMetaDataWriter::new(&mut bytes, &meta)
        .finish()
        .unwrap();
    bytes
}

#[test]
fn huge_sizes_declared_in_parquet_metadata_are_errors() {
    // Unchanged numbers: the rewritten footer reads as the original.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("same.parquet"), refooted(Declared::default())).unwrap();
    run(d.path(), &["stats", "same.parquet"]).expect(0, &[]);
    let cases = [
        (
            Declared {
                rows: Some((1, 1 << 60)),
                ..Declared::default()
            },
            "damaged metadata: row groups 0..4 declare 1152921504606847197 rows, their pages hold 321",
        ),
        (
            Declared {
                rows: Some((0, -1)),
                ..Declared::default()
            },
            "row group 0 declares -1 rows",
        ),
        (
            Declared {
                size: Some((0, 2, 1 << 62)),
                ..Declared::default()
            },
            "damaged metadata: column \"rating\" of row group 0",
        ),
        (
            Declared {
                size: Some((0, 1, -7)),
                ..Declared::default()
            },
            "damaged metadata: column \"movieId\" of row group 0",
        ),
        (
            Declared {
                offset: Some((1, 0, 1 << 40)),
                ..Declared::default()
            },
            "damaged metadata: column \"userId\" of row group 1",
        ),
        (
            Declared {
                offset: Some((1, 3, -3)),
                ..Declared::default()
            },
            "damaged metadata: column \"timestamp\" of row group 1",
        ),
    ];
    for (declared, piece) in cases {
        parquet_fails("declared.parquet", &refooted(declared), &[piece]);
    }
}
