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
use crate::ingest::{Ingest, Outcome, SourceReport, run_pass};
use crate::publish::site::{Site, SiteCache};
use crate::publish::websub::{self, Pinger};
use crate::server::{AppState, router};
use crate::store::Store;

/// How long shutdown waits for in-flight polls before flushing anyway.
const DRAIN: Duration = Duration::from_secs(30);

pub struct Daemon {
    pub sources: Vec<ResolvedSource>,
    pub ingest: Arc<Ingest>,
    pub cache: Arc<SiteCache>,
    pub scheduler_alive: Arc<AtomicBool>,
    /// Tells the WebSub hub when the feeds change (`[blog] hub`).
    pinger: Option<Pinger>,
    /// `/sources.opml`: the configured sources, as at start.
    sources_opml: String,
}

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
        Ok(Daemon {
            sources: config.resolved_sources(),
            ingest: Arc::new(ingest),
            cache: Arc::new(SiteCache::new(site, store)),
            scheduler_alive: Arc::new(AtomicBool::new(false)),
            pinger,
            sources_opml: crate::sources::opml::export(config),
        })
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
        };
        let admin = self.start_admin(shutdown.clone()).await?;
        let sources_opml = std::mem::take(&mut self.sources_opml);
        let mut server_stop = shutdown.clone();
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).merge(crate::server::sources_opml(sources_opml)),
            )
            .with_graceful_shutdown(async move {
                let _ = server_stop.wait_for(|s| *s).await;
            })
            .await
        });
        self.scheduler_alive.store(true, Ordering::Release);
        scheduler(self.ingest.clone(), self.sources.clone(), shutdown).await;
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
            sources: Arc::new(self.sources.clone()),
            cache: self.cache.clone(),
        };
        let app = Router::new()
            .route("/fetch", post(admin_fetch))
            .route("/render", post(admin_render))
            .route("/rejudge", post(admin_rejudge))
            .route("/explain", post(admin_explain))
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
    sources: Arc<Vec<ResolvedSource>>,
    cache: Arc<SiteCache>,
}

async fn admin_fetch(State(s): State<AdminState>) -> Response {
    match run_pass(s.ingest.clone(), &s.sources, |_| {}).await {
        Ok(reports) => json_response(&reports),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn admin_render(State(s): State<AdminState>, body: String) -> Response {
    let out = PathBuf::from(body.trim());
    let cache = s.cache.clone();
    let written = tokio::task::spawn_blocking(move || {
        cache.site.write_dir(cache.store(), &out).map(|n| (n, out))
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

/// Every source's fetch state, for `kawaraban sources list`.
async fn admin_sources(State(s): State<AdminState>) -> Response {
    match s.ingest.store.source_states() {
        Ok(states) => json_response(&states),
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
/// store, so a restart does not hammer a source that was backing off.
async fn scheduler(
    ingest: Arc<Ingest>,
    sources: Vec<ResolvedSource>,
    mut shutdown: watch::Receiver<bool>,
) {
    let now = Utc::now();
    let mut next: Vec<chrono::DateTime<Utc>> = sources
        .iter()
        .map(|s| {
            ingest
                .store
                .source_state(s.url.as_str())
                .ok()
                .and_then(|st| st.next_poll)
                .unwrap_or(now)
        })
        .collect();
    let mut running = vec![false; sources.len()];
    let mut tasks: JoinSet<(usize, Result<SourceReport, String>)> = JoinSet::new();
    loop {
        let now = Utc::now();
        for (i, src) in sources.iter().enumerate() {
            if running[i] || next[i] > now || !src.enabled {
                continue;
            }
            running[i] = true;
            let ingest = ingest.clone();
            let src = src.clone();
            tasks.spawn(async move { (i, ingest.poll(&src).await.map_err(|e| e.to_string())) });
        }
        let wake = sources
            .iter()
            .enumerate()
            .filter(|(i, s)| !running[*i] && s.enabled)
            .map(|(i, _)| next[i])
            .min()
            .map(|t| (t - Utc::now()).to_std().unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::from_secs(3600))
            .min(Duration::from_secs(3600));
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                let Ok((i, result)) = done else { continue };
                running[i] = false;
                let src = &sources[i];
                next[i] = match result {
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
