//! The daemon: a scheduler that polls each source at its own pace, the public HTTP
//! server, the local admin endpoint, and a clean shutdown on SIGINT/SIGTERM (in-flight
//! polls finish their writes, the store is flushed, exit 0).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, ResolvedSource};
use crate::health::{HEARTBEAT, Health};
use crate::ingest::{Ingest, Outcome, SourceReport, run_pass};
use crate::publish::site::{Site, SiteCache};
use crate::publish::websub::{self, Pinger};
use crate::server::{AppState, router};
use crate::store::Store;
use crate::store::retention::{Policy, Pruned};

/// How long shutdown waits for in-flight polls before flushing anyway.
const DRAIN: Duration = Duration::from_secs(30);

pub struct Daemon {
    pub ingest: Arc<Ingest>,
    pub cache: Arc<SiteCache>,
    pub scheduler_alive: Arc<AtomicBool>,
    /// Tells the WebSub hub when the feeds change (`[blog] hub`).
    pinger: Option<Pinger>,
    /// What retention keeps; a reload may change it.
    retention: Arc<std::sync::RwLock<Policy>>,
    pub health: Arc<Health>,
    /// The sources the scheduler polls; a reload sends a new list.
    current_sources: watch::Sender<Arc<Vec<ResolvedSource>>>,
    config: Config,
    /// Reloaded on SIGHUP and when it changes; see [`Daemon::watch_config`].
    config_path: Option<PathBuf>,
    /// `/sources.opml`: the configured sources; a reload replaces it.
    sources_opml: crate::server::SourcesOpml,
}

/// How often retention runs, and how long after start the first run waits (so a
/// restart serves and polls before it prunes).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_FIRST: Duration = Duration::from_secs(60);

impl Daemon {
    pub fn new(config: &Config, store: Store) -> anyhow::Result<Daemon> {
        let judge = Arc::new(crate::judge::for_store(config, &store)?);
        let ingest = Ingest::new(config.fetch.clone(), store.clone())
            .context("setting up the HTTP client")?
            .with_judge(judge.clone());
        let caught_up = ingest.judge_pending()?;
        if caught_up > 0 {
            tracing::info!(
                articles = caught_up,
                "judged articles stored but not judged before"
            );
        }
        let site = Site::new(config);
        let pinger = match &config.blog.hub {
            Some(hub) => {
                let client = reqwest::Client::builder()
                    .user_agent(config.fetch.user_agent.clone())
                    .connect_timeout(config.fetch.connect_timeout.0)
                    .build()
                    .context("setting up the WebSub client")?;
                let topics = websub::feed_topics(&config.blog.base_url.0, site.category_slugs());
                Some(Pinger::new(hub.0.clone(), topics, client))
            }
            None => None,
        };
        let sources = config.resolved_sources();
        let (current_sources, watching) = watch::channel(Arc::new(sources));
        let cache = Arc::new(SiteCache::new(site, store));
        let health = Arc::new(Health::new(
            ingest.metrics.clone(),
            watching,
            config.server.admin_allow.clone(),
            cache.clone(),
        ));
        Ok(Daemon {
            ingest: Arc::new(ingest),
            cache,
            scheduler_alive: Arc::new(AtomicBool::new(false)),
            pinger,
            retention: Arc::new(std::sync::RwLock::new(config.store.retention())),
            health,
            current_sources,
            config: config.clone(),
            config_path: None,
            sources_opml: crate::server::SourcesOpml::new(crate::sources::opml::export(config)),
        })
    }

    /// Reloads the configuration from `path` on SIGHUP and whenever the file changes.
    pub fn watch_config(mut self, path: PathBuf) -> Daemon {
        self.config_path = Some(path);
        self
    }

    /// Runs until `shutdown` turns true. The listener is bound by the caller, so a
    /// test can use port 0 and a wrong address fails before anything starts.
    pub async fn run(
        mut self,
        listener: tokio::net::TcpListener,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        if let Some(pinger) = self.pinger.take() {
            self.start_websub(pinger, shutdown.clone());
        }
        let state = AppState {
            cache: self.cache.clone(),
            scheduler_alive: self.scheduler_alive.clone(),
            health: Some(self.health.clone()),
        };
        if let Some(path) = self.config_path.clone() {
            // Before the server answers: a signal or an edit right after start-up counts.
            let triggers = crate::reload::Triggers::new(&path);
            let reloader = crate::reload::Reloader::new(
                path,
                self.config.clone(),
                self.ingest.clone(),
                self.cache.clone(),
                self.current_sources.clone(),
                self.health.clone(),
            )
            .with_retention(self.retention.clone())
            .with_sources_opml(self.sources_opml.clone());
            tokio::spawn(reloader.run(triggers, shutdown.clone()));
        }
        let admin = self.start_admin(shutdown.clone()).await?;
        self.start_retention(shutdown.clone());
        let mut server_stop = shutdown.clone();
        // The peer's address is what `/status` and `/metrics` are allowed by.
        let app = router(state)
            .merge(self.sources_opml.router())
            .into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                })
                .await
        });
        self.scheduler_alive.store(true, Ordering::Release);
        self.health.beat();
        scheduler(
            self.ingest.clone(),
            self.current_sources.subscribe(),
            self.health.clone(),
            shutdown,
        )
        .await;
        self.scheduler_alive.store(false, Ordering::Release);
        self.ingest
            .store
            .flush()
            .context("flushing the store on shutdown")?;
        let _ = std::fs::remove_file(&admin);
        match server.await {
            Ok(r) => r.context("the HTTP server failed")?,
            Err(e) => anyhow::bail!("the HTTP server task failed: {e}"),
        }
        tracing::info!("stopped cleanly");
        Ok(())
    }

    /// Pings the hub once at start (a change the last run may not have announced), then
    /// whenever what the feeds show has changed on disk: the flushed generation, checked
    /// every few seconds, with the pinger coalescing bursts.
    fn start_websub(&self, pinger: Pinger, mut shutdown: watch::Receiver<bool>) {
        let store = self.ingest.store.clone();
        let (tx, mut rx) = watch::channel(store.durable_generation());
        rx.mark_changed();
        tokio::spawn(pinger.run(rx, shutdown.clone()));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => return,
                    _ = tick.tick() => {
                        let g = store.durable_generation();
                        tx.send_if_modified(|seen| std::mem::replace(seen, g) != g);
                    }
                }
            }
        });
    }

    /// Prunes what `[store] keep_days` / `keep_max` no longer keep, in the background:
    /// each batch takes its turn with the polls' writes, so ingest and serving go on.
    fn start_retention(&self, mut shutdown: watch::Receiver<bool>) {
        let (store, policy) = (self.ingest.store.clone(), self.retention.clone());
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_FIRST, PRUNE_EVERY);
            loop {
                let stop = tokio::select! {
                    _ = shutdown.wait_for(|s| *s) => true,
                    _ = tick.tick() => false,
                };
                if stop {
                    return;
                }
                prune(&store, current(&policy)).await;
            }
        });
    }

    async fn start_admin(&self, shutdown: watch::Receiver<bool>) -> anyhow::Result<PathBuf> {
        let path = crate::admin::socket_path(self.ingest.store.path());
        if path.exists() {
            // A socket left by a killed daemon: we hold the store lock, so nobody
            // else can be listening on it.
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the stale admin socket {}", path.display()))?;
        }
        let listener = tokio::net::UnixListener::bind(&path)
            .with_context(|| format!("binding the admin socket {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting the admin socket {}", path.display()))?;
        let admin = AdminState {
            ingest: self.ingest.clone(),
            sources: self.current_sources.subscribe(),
            cache: self.cache.clone(),
            retention: self.retention.clone(),
        };
        let app = Router::new()
            .route("/fetch", post(admin_fetch))
            .route("/render", post(admin_render))
            .route("/rejudge", post(admin_rejudge))
            .route("/explain", post(admin_explain))
            .route("/prune", post(admin_prune))
            .route("/stats", post(admin_stats))
            .route("/posts", post(admin_posts))
            .route("/post", post(admin_post))
            .route("/sources", axum::routing::get(admin_sources))
            .route("/check", post(admin_check))
            .with_state(admin);
        let mut stop = shutdown;
        tokio::spawn(async move {
            let r = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "admin endpoint failed");
            }
        });
        Ok(path)
    }
}

#[derive(Clone)]
struct AdminState {
    ingest: Arc<Ingest>,
    sources: watch::Receiver<Arc<Vec<ResolvedSource>>>,
    cache: Arc<SiteCache>,
    retention: Arc<std::sync::RwLock<Policy>>,
}

fn current(policy: &std::sync::RwLock<Policy>) -> Policy {
    *policy.read().unwrap_or_else(|p| p.into_inner())
}

async fn prune(store: &Store, policy: Policy) -> Option<Pruned> {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.prune(policy, Utc::now())).await {
        Ok(Ok(p)) => {
            if p.articles > 0 || p.tombstones_expired > 0 || p.dedup_expired > 0 {
                tracing::info!(
                    articles = p.articles,
                    tombstones_expired = p.tombstones_expired,
                    dedup_expired = p.dedup_expired,
                    "retention pruned the store"
                );
            }
            Some(p)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "retention failed; nothing was lost, it runs again later");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the retention task failed");
            None
        }
    }
}

async fn admin_prune(State(s): State<AdminState>) -> Response {
    match prune(&s.ingest.store, current(&s.retention)).await {
        Some(p) => json_response(&p),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "retention failed; see the daemon's log",
        )
            .into_response(),
    }
}

async fn admin_stats(State(s): State<AdminState>) -> Response {
    let store = s.ingest.store.clone();
    match tokio::task::spawn_blocking(move || store.stats()).await {
        Ok(Ok(stats)) => json_response(&stats),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn admin_fetch(State(s): State<AdminState>) -> Response {
    let sources = s.sources.borrow().clone();
    match run_pass(s.ingest.clone(), &sources, |_| {}).await {
        Ok(reports) => json_response(&reports),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn admin_render(State(s): State<AdminState>, body: String) -> Response {
    let out = PathBuf::from(body.trim());
    let cache = s.cache.clone();
    let written = tokio::task::spawn_blocking(move || {
        cache
            .site()
            .write_dir(cache.store(), &out)
            .map(|n| (n, out))
    })
    .await;
    match written {
        Ok(Ok((files, out))) => json_response(&serde_json::json!({ "files": files, "out": out })),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// A rejudge asked by `kawaraban rejudge`: the body names the edited configuration
/// file, whose `[topic]` and categories the daemon adopts when the change is applied.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct RejudgeRequest {
    pub config: PathBuf,
    pub apply: bool,
}

async fn admin_rejudge(State(s): State<AdminState>, body: String) -> Response {
    let req: RejudgeRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let judge = match Config::load(&req.config)
        .map_err(anyhow::Error::from)
        .and_then(|c| crate::judge::for_store(&c, &s.ingest.store))
    {
        Ok(j) => Arc::new(j),
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    };
    let ingest = s.ingest.clone();
    let done = tokio::task::spawn_blocking(move || ingest.rejudge(judge, req.apply)).await;
    match done {
        Ok(Ok(changes)) => json_response(&changes),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn admin_explain(State(s): State<AdminState>, body: String) -> Response {
    match crate::judge::explain(&s.ingest.store, body.trim()) {
        Ok(text) => text.unwrap_or_default().into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `kawaraban post list`: the body is an [`crate::editor::ListRequest`].
async fn admin_posts(State(s): State<AdminState>, body: String) -> Response {
    let req: crate::editor::ListRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let store = s.ingest.store.clone();
    match tokio::task::spawn_blocking(move || crate::editor::list(&store, &req)).await {
        Ok(Ok(items)) => json_response(&items),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Every source's fetch state, for `kawaraban sources list`.
async fn admin_sources(State(s): State<AdminState>) -> Response {
    match s.ingest.store.source_states() {
        Ok(states) => json_response(&states),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `kawaraban post hide|show|pin|…`: the body is an [`crate::editor::EditRequest`]; the
/// answer is the outcome or the command's error as JSON, so the command exits as it
/// would without a daemon. The edit is flushed before the answer, so the served feeds
/// already show it.
async fn admin_post(State(s): State<AdminState>, body: String) -> Response {
    let req: crate::editor::EditRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let ingest = s.ingest.clone();
    let done = tokio::task::spawn_blocking(move || {
        ingest.while_judging(|store, judge| crate::editor::edit(store, judge, &req, Utc::now()))
    })
    .await;
    match done {
        Ok(Ok(edited)) => json_response(&serde_json::json!({ "ok": edited })),
        Ok(Err(e)) => json_response(&e),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `kawaraban sources check` while the daemon holds the store: the source and the
/// settings come from the configuration file the request names; nothing is written.
async fn admin_check(State(s): State<AdminState>, body: String) -> Response {
    use crate::sources::check;
    let req: check::CheckRequest = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let target = Config::load(&req.config)
        .map_err(anyhow::Error::from)
        .and_then(|c| check::target(&c, &req.source).map(|t| (c, t)));
    let (config, (src, configured)) = match target {
        Ok(t) => t,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("{e:#}")).into_response(),
    };
    match check::check(&config, &src, configured, Some(&s.ingest.store)).await {
        Ok(report) => json_response(&report),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e:#}")).into_response(),
    }
}

fn json_response<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_string(v) {
        Ok(s) => ([(axum::http::header::CONTENT_TYPE, "application/json")], s).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Polls each source when it is due: at its interval with jitter, later after
/// failures or when the server asked for a delay. The next poll time is kept in the
/// store, so a restart does not hammer a source that was backing off. A reload sends a
/// new source list: a source whose URL stays keeps its schedule (and a poll in flight
/// finishes), its new settings apply from its next poll; a removed one is not polled
/// again. Every turn of the loop beats the heartbeat `/healthz` reports.
async fn scheduler(
    ingest: Arc<Ingest>,
    mut sources: watch::Receiver<Arc<Vec<ResolvedSource>>>,
    health: Arc<Health>,
    mut shutdown: watch::Receiver<bool>,
) {
    struct Slot {
        src: ResolvedSource,
        next: chrono::DateTime<Utc>,
    }
    let first_due = |src: &ResolvedSource| {
        ingest
            .store
            .source_state(src.url.as_str())
            .ok()
            .and_then(|st| st.next_poll)
            .unwrap_or_else(Utc::now)
    };
    let mut slots: Vec<Slot> = sources
        .borrow_and_update()
        .iter()
        .map(|s| Slot {
            next: first_due(s),
            src: s.clone(),
        })
        .collect();
    let mut listening = true;
    // Keyed by URL, not by position: a reload can reorder, add and remove sources
    // while polls are in flight.
    let mut in_flight: std::collections::HashSet<url::Url> = std::collections::HashSet::new();
    let mut tasks: JoinSet<(url::Url, Result<SourceReport, String>)> = JoinSet::new();
    loop {
        health.beat();
        let now = Utc::now();
        for slot in &slots {
            if in_flight.contains(&slot.src.url) || slot.next > now || !slot.src.enabled {
                continue;
            }
            in_flight.insert(slot.src.url.clone());
            let ingest = ingest.clone();
            let src = slot.src.clone();
            tasks.spawn(async move {
                let r = ingest.poll(&src).await.map_err(|e| e.to_string());
                (src.url, r)
            });
        }
        let wake = slots
            .iter()
            .filter(|s| !in_flight.contains(&s.src.url) && s.src.enabled)
            .map(|s| s.next)
            .min()
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(HEARTBEAT)
            .min(HEARTBEAT);
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            changed = sources.changed(), if listening => {
                if changed.is_err() {
                    listening = false;
                    continue;
                }
                let fresh = sources.borrow_and_update().clone();
                slots = fresh
                    .iter()
                    .map(|s| Slot {
                        next: slots
                            .iter()
                            .find(|o| o.src.url == s.url)
                            .map_or_else(|| first_due(s), |o| o.next),
                        src: s.clone(),
                    })
                    .collect();
            }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((url, result)) = done else { continue };
                in_flight.remove(&url);
                // A source removed while it was polled has no slot left.
                let Some(slot) = slots.iter_mut().find(|s| s.src.url == url) else { continue };
                let src = &slot.src;
                slot.next = match result {
                    Ok(r) if matches!(r.outcome, Outcome::Gone | Outcome::Disabled) => Utc::now() + chrono::Duration::from_std(src.interval).unwrap_or_default(),
                    Ok(r) => r.next_poll.unwrap_or_else(|| Utc::now() + chrono::Duration::from_std(src.interval).unwrap_or_default()),
                    Err(e) => {
                        tracing::error!(source = %src.name, error = %e, "the store failed while polling; retrying later");
                        Utc::now() + chrono::Duration::minutes(5)
                    }
                };
            }
            _ = tokio::time::sleep(wake) => {}
        }
    }
    tracing::info!(
        in_flight = tasks.len(),
        "shutting down: letting in-flight polls finish"
    );
    if tokio::time::timeout(DRAIN, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight polls did not finish in time; their partial results are discarded"
        );
        tasks.abort_all();
    }
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
