//! The HTTP service: JSON in and out over axum and tokio.
//!
//! Routes (see [`ROUTES`] and `GET /openapi.json`):
//! `GET /health`, `GET /v1/model`, `GET /v1/users/{id}/recommendations?n=`,
//! `POST /v1/recommendations` (a new user), `POST /v1/predictions`,
//! `GET /v1/items/{id}/similar?n=`, `POST /v1/admin/reload`.
//!
//! - Model compute never runs on the async runtime's threads: it goes to the
//!   rayon pool (one thread a core, so concurrent requests queue instead of
//!   oversubscribing the CPU) and the handler awaits the answer. At most one
//!   job a rayon thread is in the pool at a time; the others wait, first
//!   come first served, on the async side, where a request whose client
//!   went away is dropped before it costs any compute. A small catalogue's
//!   query runs on one thread (no nested fan-out), so a request is never
//!   held up behind jobs a blocked worker stole.
//! - The model in service sits behind an `RwLock<Arc<…>>`: a request clones
//!   the `Arc` and lets go of the lock at once, so a reload swaps the model
//!   atomically while requests in flight finish on the model they started
//!   with. A reload that fails leaves the old model serving.
//! - Every error is JSON `{"error": "…"}`: 400 for malformed input, 404 for an
//!   unknown user, item or route, 408 for a body that does not arrive in
//!   time, 413 for an oversized body (refused from its `Content-Length`
//!   before it is read), 501 from `similar` on a model without item vectors,
//!   500 from a reload that failed (the previous model keeps serving) and
//!   for a panic in model code, which is caught.
//! - Admin routes (`/v1/admin/…`) need `Authorization: Bearer TOKEN` with the
//!   token the service was started with ([`ServeConfig::admin_token`]); with
//!   none configured they answer 403, a wrong or missing token 401.
//! - Slow or idle clients cannot hold connections: request headers must
//!   arrive within [`Limits::header_timeout`] (which also closes a
//!   keep-alive connection idle that long) and a body within
//!   [`Limits::body_timeout`]; after the shutdown signal, requests in flight
//!   get [`Limits::shutdown_grace`] to finish.

mod openapi;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::persist::ModelLoader;
use crate::recommend::{self, SimilarityIndex};
use crate::TrainedModel;

pub use openapi::openapi;

/// Every route as (method, path), in the order the OpenAPI document lists them.
pub const ROUTES: [(&str, &str); 8] = [
    ("get", "/health"),
    ("get", "/openapi.json"),
    ("get", "/v1/model"),
    ("get", "/v1/users/{id}/recommendations"),
    ("post", "/v1/recommendations"),
    ("post", "/v1/predictions"),
    ("get", "/v1/items/{id}/similar"),
    ("post", "/v1/admin/reload"),
];

/// Bounds on what one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `n` (items per answer).
    pub max_n: usize,
    /// Largest request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Most pairs in one prediction request, and most ratings for a new user.
    pub max_list: usize,
    /// Time a client has to send a request's headers; a keep-alive
    /// connection idle this long is closed too.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body once the headers are in (408 after).
    pub body_timeout: Duration,
    /// After the shutdown signal: how long requests in flight may take
    /// before the service stops anyway.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_n: 1000,
            max_body_bytes: 1 << 20,
            max_list: 10_000,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Limits {
    /// Checks the bounds make a working service (`max_n` 0 would refuse every request).
    pub fn validate(&self) -> Result<()> {
        if self.max_n == 0 {
            return Err(Error::config(
                "max_n = 0 would refuse every request; it must be at least 1",
            ));
        }
        if self.max_body_bytes == 0 || self.max_list == 0 {
            return Err(Error::config(
                "max_body_bytes and max_list must be at least 1",
            ));
        }
        for (name, d) in [
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::config(format!("{name} must be above 0")));
            }
        }
        Ok(())
    }
}

/// How to run the service.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The model file; reloads read it again.
    pub model_path: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    pub addr: SocketAddr,
    /// Request bounds.
    pub limits: Limits,
    /// Rebuilds the model from the file's parts.
    pub loader: ModelLoader,
    /// The bearer token admin routes require; `None` turns them off (403).
    pub admin_token: Option<String>,
}

impl ServeConfig {
    /// Defaults for `path`: 127.0.0.1:8080, default limits, every model aerec ships.
    pub fn new(model_path: impl Into<PathBuf>) -> Self {
        ServeConfig {
            model_path: model_path.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            limits: Limits::default(),
            loader: crate::model::spec::load_model,
            admin_token: None,
        }
    }
}

/// A model in service, with what is derived from it once per load.
struct Served {
    model: TrainedModel,
    /// The similarity index, or why the model has none.
    similarity: std::result::Result<SimilarityIndex, String>,
    loaded_unix: u64,
}

impl Served {
    fn new(model: TrainedModel) -> Self {
        let similarity = SimilarityIndex::new(&model).map_err(|e| e.to_string());
        let loaded_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Served {
            model,
            similarity,
            loaded_unix,
        }
    }

    fn summary(&self, path: &std::path::Path) -> ModelSummary {
        let m = &self.model;
        ModelSummary {
            kind: m.model.kind().to_string(),
            path: path.display().to_string(),
            users: m.n_users(),
            items: m.n_items(),
            ratings: m.train.nnz(),
            params: m.model.n_params(),
            scale_min: m.scale.min,
            scale_max: m.scale.max,
            mu: m.fallback.mu,
            epochs: m.report.epochs,
            train_seconds: m.report.train_seconds,
            similar_items: self.similarity.is_ok(),
            loaded_unix: self.loaded_unix,
        }
    }
}

/// What `GET /v1/model` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model kind.
    pub kind: String,
    /// The file it was loaded from.
    pub path: String,
    /// Users in the index space.
    pub users: usize,
    /// Items in the index space.
    pub items: usize,
    /// Training ratings.
    pub ratings: usize,
    /// Fitted parameters.
    pub params: usize,
    /// Lowest rating of the scale.
    pub scale_min: f32,
    /// Highest rating of the scale.
    pub scale_max: f32,
    /// Global mean rating (μ).
    pub mu: f32,
    /// Training epochs.
    pub epochs: usize,
    /// Training time in seconds.
    pub train_seconds: f64,
    /// Whether `/v1/items/{id}/similar` can answer.
    pub similar_items: bool,
    /// When this model was loaded (Unix seconds).
    pub loaded_unix: u64,
}

/// The service's shared state: the model in service and how to reload it.
pub struct AppState {
    current: RwLock<Arc<Served>>,
    path: PathBuf,
    loader: ModelLoader,
    limits: Limits,
    /// Serialises reloads so two of them cannot interleave load and swap.
    reloading: tokio::sync::Mutex<()>,
    /// One permit per rayon thread: the model jobs allowed in the pool.
    slots: tokio::sync::Semaphore,
    admin_token: Option<String>,
}

impl AppState {
    /// Loads the model file named by `config`.
    pub fn load(config: &ServeConfig) -> Result<Arc<Self>> {
        let model = crate::persist::load_with(&config.model_path, config.loader)?;
        Ok(Self::with_model(model, config))
    }

    /// Serves `model` (already loaded from `config.model_path`).
    pub fn with_model(model: TrainedModel, config: &ServeConfig) -> Arc<Self> {
        Arc::new(AppState {
            current: RwLock::new(Arc::new(Served::new(model))),
            path: config.model_path.clone(),
            loader: config.loader,
            limits: config.limits,
            reloading: tokio::sync::Mutex::new(()),
            slots: tokio::sync::Semaphore::new(rayon::current_num_threads().max(1)),
            admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
        })
    }

    fn current(&self) -> Arc<Served> {
        // A poisoned lock only means a writer panicked between two plain
        // assignments; the Arc inside is whole either way.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Summary of the model in service.
    pub fn summary(&self) -> ModelSummary {
        self.current().summary(&self.path)
    }

    /// Reads the model file again and swaps it in; on failure the old model
    /// keeps serving and the error says why.
    pub async fn reload(self: &Arc<Self>) -> Result<ModelSummary> {
        let _one_at_a_time = self.reloading.lock().await;
        let (path, loader) = (self.path.clone(), self.loader);
        let loaded = tokio::task::spawn_blocking(move || {
            crate::persist::load_with(&path, loader).map(Served::new)
        })
        .await
        .map_err(|e| Error::other(format!("the reload task failed: {e}")))??;
        let summary = loaded.summary(&self.path);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(summary)
    }
}

/// The service's routes over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi_json))
        .route("/v1/model", get(model_summary))
        .route("/v1/users/{id}/recommendations", get(user_recommendations))
        .route("/v1/recommendations", post(new_user_recommendations))
        .route("/v1/predictions", post(predictions))
        .route("/v1/items/{id}/similar", get(similar))
        .route("/v1/admin/reload", post(reload))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route",
            )
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.limits,
            read_body_in_time,
        ))
        .with_state(state)
}

/// Refuses a body whose `Content-Length` exceeds the limit before reading
/// any of it (413), and reads the rest within [`Limits::body_timeout`]
/// (408 after), so a client cannot hold a handler by sending slowly.
async fn read_body_in_time(State(limits): State<Limits>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is {} bytes, more than the limit of {} bytes",
                declared.unwrap_or_default(),
                limits.max_body_bytes
            ),
        )
        .into_response();
    }
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is more than the limit of {} bytes",
                        limits.max_body_bytes
                    ),
                )
            } else {
                ApiError::bad_request(format!("the body could not be read: {e}"))
            }
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the body did not arrive within {} s",
                    limits.body_timeout.as_secs_f64()
                ),
            )
            .into_response()
        }
    };
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
        .await
}

/// Serves `state` on `listener` until `shutdown` completes, then stops
/// accepting, lets the requests in flight finish for at most
/// [`Limits::shutdown_grace`] and returns.
///
/// Each connection is HTTP/1.1 with a header deadline
/// ([`Limits::header_timeout`]), which also ends keep-alive connections
/// idle that long; bodies have their own deadline in the router.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let limits = state.limits;
    let app = router(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                // Out of file descriptors or a connection reset before it
                // was accepted: wait a little instead of spinning.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A client that breaks the protocol or times out only ends its
            // own connection.
            let _ = connection.await;
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, connections.shutdown())
        .await
        .is_err()
    {
        eprintln!(
            "aerec: requests still open after {} s; stopping anyway",
            limits.shutdown_grace.as_secs_f64()
        );
    }
    Ok(())
}

/// Loads the model, listens on `config.addr` and serves until Ctrl-C or
/// SIGTERM; SIGHUP reloads the model file. Prints the address it listens on
/// to stderr (useful with port 0).
pub fn run(config: ServeConfig) -> Result<()> {
    config.limits.validate()?;
    let state = AppState::load(&config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| Error::other(format!("cannot listen on {}: {e}", config.addr)))?;
        eprintln!(
            "aerec: serving {} ({}) on http://{}",
            config.model_path.display(),
            state.summary().kind,
            listener.local_addr()?
        );
        reload_on_sighup(Arc::clone(&state))?;
        let first_signal = stop_signals(config.limits.shutdown_grace)?;
        serve(listener, state, first_signal).await?;
        eprintln!("aerec: stopped");
        Ok(())
    })
}

#[cfg(unix)]
fn reload_on_sighup(state: Arc<AppState>) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match state.reload().await {
                Ok(s) => eprintln!("aerec: SIGHUP: reloaded {} ({})", s.path, s.kind),
                Err(e) => eprintln!("aerec: SIGHUP: reload failed, old model still serving: {e}"),
            }
        }
    });
    Ok(())
}

#[cfg(not(unix))]
fn reload_on_sighup(_state: Arc<AppState>) -> Result<()> {
    Ok(())
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C); a second one ends the
/// process at once, whatever is still open. Both signal streams are set up
/// before the first arrives, so a quick second signal is never missed.
#[cfg(unix)]
fn stop_signals(grace: Duration) -> Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        eprintln!(
            "aerec: stopping: finishing the requests in flight (at most {} s); \
             signal again to stop at once",
            grace.as_secs_f64()
        );
        let _ = first.send(());
        tokio::select! {
            _ = terminate.recv() => {},
            _ = interrupt.recv() => {},
        }
        eprintln!("aerec: second signal: stopped at once");
        std::process::exit(1);
    });
    Ok(async move {
        let _ = first_seen.await;
    })
}

/// Elsewhere Ctrl-C stops the service; a second Ctrl-C ends the process.
#[cfg(not(unix))]
fn stop_signals(grace: Duration) -> Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        eprintln!(
            "aerec: stopping: finishing the requests in flight (at most {} s); \
             Ctrl-C again to stop at once",
            grace.as_secs_f64()
        );
        tokio::spawn(async {
            let _ = tokio::signal::ctrl_c().await;
            std::process::exit(1);
        });
    })
}

/// An error reply: a status and `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match e.kind() {
            ErrorKind::UnknownId { .. } => StatusCode::NOT_FOUND,
            ErrorKind::Rating { .. }
            | ErrorKind::Config(_)
            | ErrorKind::Parse { .. }
            | ErrorKind::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

/// Body and query rejections keep axum's status (413 for an oversized body,
/// 415 for a missing JSON content type) except that a body of the wrong
/// shape (422 in axum) is a plain 400.
fn rejection(status: StatusCode, text: String) -> ApiError {
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, text)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        rejection(r.status(), r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

type Reply<T> = std::result::Result<Json<T>, ApiError>;

/// Runs model code on the rayon pool once a slot is free and awaits it; a
/// panic becomes a 500.
async fn compute<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Reply<T> {
    // The semaphore is never closed, so acquiring only waits.
    let _slot = state.slots.acquire().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down",
        )
    })?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out);
    });
    match rx.await {
        Ok(Ok(Ok(v))) => Ok(Json(v)),
        Ok(Ok(Err(e))) => Err(e.into()),
        Ok(Err(_)) | Err(_) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error while computing the answer",
        )),
    }
}

/// `?n=` of the list routes.
#[derive(Debug, Deserialize)]
struct NQuery {
    n: Option<i64>,
}

fn check_n(n: Option<i64>, limits: &Limits) -> std::result::Result<usize, ApiError> {
    let n = n.unwrap_or(10);
    if n <= 0 || n as u64 > limits.max_n as u64 {
        return Err(ApiError::bad_request(format!(
            "n must be between 1 and {}, got {n}",
            limits.max_n
        )));
    }
    Ok(n as usize)
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn openapi_json() -> Json<serde_json::Value> {
    Json(openapi())
}

async fn model_summary(State(state): State<Arc<AppState>>) -> Json<ModelSummary> {
    Json(state.summary())
}

#[derive(Debug, Serialize)]
struct UserRecommendations {
    user: String,
    items: Vec<recommend::Recommendation>,
}

async fn user_recommendations(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
    query: std::result::Result<Query<NQuery>, QueryRejection>,
) -> Reply<UserRecommendations> {
    let Path(user) = path?;
    let n = check_n(query?.n, &state.limits)?;
    let served = state.current();
    compute(&state, move || {
        let items = recommend::for_user(&served.model, &user, n)?;
        Ok(UserRecommendations { user, items })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    ratings: Vec<ItemRating>,
    n: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemRating {
    item: String,
    rating: f32,
}

async fn new_user_recommendations(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<NewUserRequest>, JsonRejection>,
) -> Reply<recommend::NewUserRecommendations> {
    let Json(request) = body?;
    let n = check_n(request.n, &state.limits)?;
    if request.ratings.len() > state.limits.max_list {
        return Err(ApiError::bad_request(format!(
            "at most {} ratings per request",
            state.limits.max_list
        )));
    }
    let ratings: Vec<(String, f32)> = request
        .ratings
        .into_iter()
        .map(|r| (r.item, r.rating))
        .collect();
    let served = state.current();
    compute(&state, move || {
        recommend::for_new_user(&served.model, &ratings, n)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PredictionsRequest {
    pairs: Vec<UserItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserItem {
    user: String,
    item: String,
}

#[derive(Debug, Serialize)]
struct Predictions {
    predictions: Vec<recommend::PairPrediction>,
}

async fn predictions(
    State(state): State<Arc<AppState>>,
    body: std::result::Result<Json<PredictionsRequest>, JsonRejection>,
) -> Reply<Predictions> {
    let Json(request) = body?;
    if request.pairs.len() > state.limits.max_list {
        return Err(ApiError::bad_request(format!(
            "at most {} pairs per request",
            state.limits.max_list
        )));
    }
    let pairs: Vec<(String, String)> = request
        .pairs
        .into_iter()
        .map(|p| (p.user, p.item))
        .collect();
    let served = state.current();
    compute(&state, move || {
        let predictions = recommend::predict_pairs(&served.model, &pairs)?;
        Ok(Predictions { predictions })
    })
    .await
}

#[derive(Debug, Serialize)]
struct Similar {
    item: String,
    similar: Vec<recommend::SimilarItem>,
}

async fn similar(
    State(state): State<Arc<AppState>>,
    path: std::result::Result<Path<String>, PathRejection>,
    query: std::result::Result<Query<NQuery>, QueryRejection>,
) -> Reply<Similar> {
    let Path(item) = path?;
    let n = check_n(query?.n, &state.limits)?;
    let served = state.current();
    if let Err(why) = &served.similarity {
        return Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, why.clone()));
    }
    compute(&state, move || {
        let index = served
            .similarity
            .as_ref()
            .map_err(|why| Error::other(why.clone()))?;
        let similar = recommend::similar_items(&served.model, index, &item, n)?;
        Ok(Similar { item, similar })
    })
    .await
}

/// Whether `headers` carry the admin token; the answer to send otherwise.
fn authorize_admin(state: &AppState, headers: &HeaderMap) -> std::result::Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin routes are off: start the service with a token \
             (AEREC_ADMIN_TOKEN or --admin-token-file) to use them",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError::new(StatusCode::UNAUTHORIZED, "wrong admin token")),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "admin routes need the header `Authorization: Bearer TOKEN`",
        )),
    }
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guessed token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn reload(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(refused) = authorize_admin(&state, &headers) {
        return refused.into_response();
    }
    match state.reload().await {
        Ok(summary) => {
            Json(serde_json::json!({ "reloaded": true, "model": summary })).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({
                "error": format!("reload failed, the previous model is still serving: {e}"),
                "reloaded": false,
                "model": state.summary(),
            })),
        )
            .into_response(),
    }
}
