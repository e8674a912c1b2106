//! The HTTP service, started for real on a free loopback port and spoken to
//! over HTTP: every route, every error case, reloads under load.
//! Expected numbers come from the fixture's hand computation (fixed_mf).

mod fixed_mf;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aerec::serve::{self, AppState, Limits, ServeConfig};
use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The admin token every test server is started with.
const ADMIN_TOKEN: &str = "test-admin-token";

/// A server on 127.0.0.1:0 in its own thread; stopped (gracefully) on drop.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Server {
    fn start(limits: Limits) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.aerec");
        aerec::persist::save(&fixed_mf::fixture(), &path).unwrap();
        let mut config = ServeConfig::new(&path);
        config.loader = fixed_mf::loader;
        config.limits = limits;
        config.admin_token = Some(ADMIN_TOKEN.into());
        let state = AppState::load(&config).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve::serve(listener, state, async {
                let _ = stopped.await;
            }))
        });
        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            _dir: dir,
            path,
        }
    }

    fn url(&self, route: &str) -> String {
        format!("http://{}{route}", self.addr)
    }

    fn get(&self, route: &str) -> (StatusCode, Value) {
        reply(client().get(self.url(route)).send().unwrap())
    }

    /// Posts with the admin token (the other routes ignore it).
    fn post(&self, route: &str, body: &Value) -> (StatusCode, Value) {
        let request = client().post(self.url(route)).bearer_auth(ADMIN_TOKEN);
        reply(request.json(body).send().unwrap())
    }

    fn post_raw(&self, route: &str, body: &str) -> (StatusCode, Value) {
        let request = client()
            .post(self.url(route))
            .header("content-type", "application/json")
            .body(body.to_string());
        reply(request.send().unwrap())
    }

    fn stop(mut self) -> std::io::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn client() -> Client {
    Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Status and JSON body; every reply of the service, errors included, is JSON.
fn reply(r: reqwest::blocking::Response) -> (StatusCode, Value) {
    let status = r.status();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let text = r.text().unwrap();
    assert_eq!(
        ctype.as_deref(),
        Some("application/json"),
        "{status}: {text}"
    );
    (status, serde_json::from_str(&text).unwrap())
}

fn assert_error(got: (StatusCode, Value), status: StatusCode, needle: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    let msg = got.1["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {}", got.1));
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

fn item_ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| r["item"].as_str().unwrap())
        .collect()
}

#[test]
fn health_model_and_openapi() {
    let s = Server::start(Limits::default());
    assert_eq!(
        s.get("/health"),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    let (status, model) = s.get("/v1/model");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(model["kind"], fixed_mf::KIND);
    assert_eq!(
        (model["users"].as_u64(), model["items"].as_u64()),
        (Some(4), Some(6))
    );
    assert_eq!(model["ratings"], 7);
    assert_eq!(model["similar_items"], true);
    let (status, doc) = s.get("/openapi.json");
    assert_eq!(status, StatusCode::OK);
    for (method, route) in serve::ROUTES {
        assert!(doc["paths"][route][method].is_object(), "{method} {route}");
    }
    s.stop().unwrap();
}

#[test]
fn user_recommendations_and_their_errors() {
    let s = Server::start(Limits::default());
    let (status, body) = s.get("/v1/users/u1/recommendations?n=3");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"], "u1");
    assert_eq!(item_ids(&body["items"]), ["i4", "i6", "i3"]);
    assert_eq!(body["items"][0]["title"], "Four, \"the\" film");
    assert!((body["items"][1]["rating"].as_f64().unwrap() - 3.9).abs() < 1e-5);
    // Default n = 10, capped by the four unrated items.
    assert_eq!(
        s.get("/v1/users/u1/recommendations").1["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_error(
        s.get("/v1/users/nobody/recommendations"),
        StatusCode::NOT_FOUND,
        "unknown user \"nobody\"",
    );
    for bad in ["0", "-1", "1001"] {
        let route = format!("/v1/users/u1/recommendations?n={bad}");
        assert_error(
            s.get(&route),
            StatusCode::BAD_REQUEST,
            "n must be between 1 and 1000",
        );
    }
    assert_error(
        s.get("/v1/users/u1/recommendations?n=abc"),
        StatusCode::BAD_REQUEST,
        "n",
    );
    // Percent-encoded ids reach the model decoded.
    assert_error(
        s.get("/v1/users/a%20b/recommendations"),
        StatusCode::NOT_FOUND,
        "\"a b\"",
    );
}

#[test]
fn new_user_recommendations_and_their_errors() {
    let s = Server::start(Limits {
        max_body_bytes: 1024,
        max_list: 5,
        ..Limits::default()
    });
    let body = json!({ "ratings": [
        { "item": "i1", "rating": 5 }, { "item": "i3", "rating": 1.0 }, { "item": "zz", "rating": 4 }
    ], "n": 2 });
    let (status, recs) = s.post("/v1/recommendations", &body);
    assert_eq!(status, StatusCode::OK, "{recs}");
    // Fold-in p = (1, −1): i4 4.0, i6 3.8 (see recommend.rs).
    assert_eq!(item_ids(&recs["items"]), ["i4", "i6"]);
    assert_eq!(recs["unknown_items"], json!(["zz"]));
    assert_eq!(recs["used_ratings"], 2);

    let route = "/v1/recommendations";
    assert_error(
        s.post_raw(route, "{\"ratings\": ["),
        StatusCode::BAD_REQUEST,
        "",
    );
    assert_error(
        s.post(
            route,
            &json!({ "ratings": [{ "item": "i1", "rating": "five" }] }),
        ),
        StatusCode::BAD_REQUEST,
        "invalid type",
    );
    assert_error(
        s.post(route, &json!({ "ratings": [{ "item": 7, "rating": 5 }] })),
        StatusCode::BAD_REQUEST,
        "invalid type",
    );
    assert_error(
        s.post(route, &json!({ "n": 3 })),
        StatusCode::BAD_REQUEST,
        "missing field `ratings`",
    );
    assert_error(
        s.post(route, &json!({ "ratings": [], "count": 3 })),
        StatusCode::BAD_REQUEST,
        "unknown field `count`",
    );
    assert_error(
        s.post(
            route,
            &json!({ "ratings": [{ "item": "i1", "rating": 5.5 }] }),
        ),
        StatusCode::BAD_REQUEST,
        "outside the model's scale 1..5",
    );
    assert_error(
        s.post(
            route,
            &json!({ "ratings": [{ "item": "i1", "rating": 4 }, { "item": "i1", "rating": 2 }] }),
        ),
        StatusCode::BAD_REQUEST,
        "rated twice",
    );
    assert_error(
        s.post(route, &json!({ "ratings": [], "n": 0 })),
        StatusCode::BAD_REQUEST,
        "n must be",
    );
    let six: Vec<Value> = (1..=6)
        .map(|i| json!({ "item": format!("i{i}"), "rating": 3 }))
        .collect();
    assert_error(
        s.post(route, &json!({ "ratings": six })),
        StatusCode::BAD_REQUEST,
        "at most 5 ratings",
    );
    let big = json!({ "ratings": [{ "item": "x".repeat(2000), "rating": 3 }] });
    assert_error(s.post(route, &big), StatusCode::PAYLOAD_TOO_LARGE, "");
    let plain = client()
        .post(s.url(route))
        .body("{\"ratings\": []}")
        .send()
        .unwrap();
    assert_error(
        reply(plain),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Content-Type",
    );
}

#[test]
fn predictions_flag_the_fallback() {
    let s = Server::start(Limits::default());
    let body = json!({ "pairs": [
        { "user": "u1", "item": "i4" }, { "user": "nobody", "item": "i1" }, { "user": "u1", "item": "zz" }
    ] });
    let (status, preds) = s.post("/v1/predictions", &body);
    assert_eq!(status, StatusCode::OK, "{preds}");
    let p = preds["predictions"].as_array().unwrap();
    assert_eq!(p.len(), 3);
    assert!((p[0]["rating"].as_f64().unwrap() - 4.0).abs() < 1e-5);
    assert_eq!(p[0]["fallback"], Value::Null);
    assert_eq!(p[1]["fallback"], "unknown_user");
    assert_eq!(p[2]["fallback"], "unknown_item");
    assert_error(
        s.post("/v1/predictions", &json!({ "pairs": [{ "user": "u1" }] })),
        StatusCode::BAD_REQUEST,
        "missing field `item`",
    );
    assert_error(
        s.post("/v1/predictions", &json!([1, 2])),
        StatusCode::BAD_REQUEST,
        "invalid type",
    );
}

#[test]
fn similar_items_and_their_errors() {
    let s = Server::start(Limits::default());
    let (status, body) = s.get("/v1/items/i1/similar?n=2");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(item_ids(&body["similar"]), ["i4", "i2"]);
    assert!((body["similar"][0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-6);
    assert_error(
        s.get("/v1/items/zz/similar"),
        StatusCode::NOT_FOUND,
        "unknown item \"zz\"",
    );
    assert_error(
        s.get("/v1/items/i1/similar?n=0"),
        StatusCode::BAD_REQUEST,
        "n must be",
    );
}

#[test]
fn unknown_routes_and_methods_are_json_errors() {
    let s = Server::start(Limits::default());
    assert_error(s.get("/v2/nothing"), StatusCode::NOT_FOUND, "no such route");
    assert_error(
        s.post("/health", &json!({})),
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    );
    assert_error(
        s.get("/v1/recommendations"),
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    );
}

fn save_with_epochs(path: &Path, epochs: usize) {
    let mut m = fixed_mf::fixture();
    m.report.epochs = epochs;
    aerec::persist::save(&m, path).unwrap();
}

#[test]
fn reload_swaps_the_model_and_a_bad_file_keeps_the_old_one() {
    let s = Server::start(Limits::default());
    save_with_epochs(&s.path, 7);
    let (status, body) = s.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["model"]["epochs"], 7);
    assert_eq!(s.get("/v1/model").1["epochs"], 7);

    std::fs::write(&s.path, b"not a model").unwrap();
    let (status, body) = s.post("/v1/admin/reload", &json!({}));
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let why = body["error"].as_str().unwrap();
    assert!(
        why.contains("previous model is still serving") && why.contains("not a safetensors"),
        "{why}"
    );
    assert_eq!(body["model"]["epochs"], 7);
    assert_eq!(s.get("/v1/users/u1/recommendations?n=1").0, StatusCode::OK);

    std::fs::remove_file(&s.path).unwrap();
    assert_eq!(
        s.post("/v1/admin/reload", &json!({})).0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(s.get("/v1/model").1["epochs"], 7);
}

#[test]
fn reloads_under_load_drop_no_request() {
    let s = Arc::new(Server::start(Limits::default()));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let c = client();
                for k in 0..60 {
                    let user = ["u1", "u2", "u3"][(w + k) % 3];
                    let r = c
                        .get(s.url(&format!("/v1/users/{user}/recommendations?n=2")))
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                    let body: Value = r.json().unwrap();
                    assert_eq!(body["items"].as_array().unwrap().len(), 2);
                }
            })
        })
        .collect();
    for epochs in 1..=10 {
        save_with_epochs(&s.path, epochs);
        let (status, body) = s.post("/v1/admin/reload", &json!({}));
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(s.get("/v1/model").1["epochs"], 10);
}

#[test]
fn graceful_stop_returns_cleanly() {
    let s = Server::start(Limits::default());
    let addr = s.addr;
    assert_eq!(s.get("/health").0, StatusCode::OK);
    s.stop().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening after stop"
    );
}
