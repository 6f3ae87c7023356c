//! Live reload of `feeds.toml`: on SIGHUP, and when the file changes (its directory is
//! watched, since editors save by writing a new file and renaming it over the old).
//! A file that does not load is reported like at start-up and changes nothing; one that
//! loads is applied: new sources start polling, removed ones stop, a source's changed
//! settings apply from its next poll, `[fetch]`, `[blog]`, `[topic]` and the categories
//! apply to what comes next. The listen address and the store need a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{mpsc, watch};

use crate::config::{Config, ResolvedSource};
use crate::fetch::Fetcher;
use crate::health::Health;
use crate::ingest::{Ingest, Net};
use crate::publish::site::{Site, SiteCache};

/// Quiet time after the last file event before the file is read: an editor's save is
/// several events (write, rename, attribute change) in quick succession.
pub const DEBOUNCE: Duration = Duration::from_millis(500);

/// What starts a reload. Set up before the daemon answers its first request, so a
/// signal or an edit right after start-up is not missed.
pub struct Triggers {
    hangup: Option<tokio::signal::unix::Signal>,
    files: mpsc::UnboundedReceiver<()>,
    /// Dropping it stops the watch.
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Triggers {
    pub fn new(path: &Path) -> Triggers {
        let hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; the configuration reloads only when the file changes");
                None
            }
        };
        let (tx, files) = mpsc::unbounded_channel();
        let watcher = match watch_file(path, tx) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot watch the configuration file; send SIGHUP to reload it");
                None
            }
        };
        Triggers {
            hangup,
            files,
            _watcher: watcher,
        }
    }
}

fn watch_file(
    path: &Path,
    tx: mpsc::UnboundedSender<()>,
) -> anyhow::Result<notify::RecommendedWatcher> {
    use notify::{EventKind, RecursiveMode, Watcher};
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let name = path
        .file_name()
        .context("the configuration path names no file")?
        .to_owned();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(name.as_os_str()))
        {
            let _ = tx.send(());
        }
    })
    .context("starting the file watcher")?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    Ok(watcher)
}

/// Holds the running configuration and what a reload changes.
pub struct Reloader {
    pub path: PathBuf,
    pub current: Config,
    /// The text the running configuration was read from, so a touch that changes
    /// nothing is not a reload.
    last_text: Option<String>,
    pub ingest: Arc<Ingest>,
    pub cache: Arc<SiteCache>,
    pub sources: watch::Sender<Arc<Vec<ResolvedSource>>>,
    pub health: Arc<Health>,
    /// What retention keeps: `[store] keep_days` / `keep_max` apply from the next run.
    retention: Option<Arc<std::sync::RwLock<crate::store::retention::Policy>>>,
    sources_opml: Option<crate::server::SourcesOpml>,
}

impl Reloader {
    pub fn new(
        path: PathBuf,
        current: Config,
        ingest: Arc<Ingest>,
        cache: Arc<SiteCache>,
        sources: watch::Sender<Arc<Vec<ResolvedSource>>>,
        health: Arc<Health>,
    ) -> Reloader {
        let last_text = std::fs::read_to_string(&path).ok();
        Reloader {
            path,
            current,
            last_text,
            ingest,
            cache,
            sources,
            health,
            retention: None,
            sources_opml: None,
        }
    }

    pub fn with_sources_opml(mut self, opml: crate::server::SourcesOpml) -> Reloader {
        self.sources_opml = Some(opml);
        self
    }

    pub fn with_retention(
        mut self,
        policy: Arc<std::sync::RwLock<crate::store::retention::Policy>>,
    ) -> Reloader {
        self.retention = Some(policy);
        self
    }

    pub async fn run(mut self, mut triggers: Triggers, mut shutdown: watch::Receiver<bool>) {
        loop {
            let hangup = async {
                match triggers.hangup.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => return,
                Some(()) = hangup => {
                    tracing::info!(config = %self.path.display(), "SIGHUP: reloading the configuration");
                    self.reload(true).await;
                }
                Some(()) = triggers.files.recv() => {
                    // Wait for the editor to finish: each event restarts the wait.
                    loop {
                        tokio::select! {
                            more = triggers.files.recv() => if more.is_none() { break },
                            _ = tokio::time::sleep(DEBOUNCE) => break,
                        }
                    }
                    self.reload(false).await;
                }
            }
        }
    }

    /// Loads the file and applies it; on any error the running configuration stays.
    pub async fn reload(&mut self, forced: bool) {
        let text = std::fs::read_to_string(&self.path).ok();
        if !forced && text.is_some() && text == self.last_text {
            tracing::debug!("the configuration file was touched but not changed");
            return;
        }
        let path = self.path.clone();
        let store = self.ingest.store.clone();
        let old_fetch = self.current.fetch.clone();
        // Loading trains the classifier and builds an HTTP client: off the async threads.
        let prepared = tokio::task::spawn_blocking(move || prepare(&path, &store, &old_fetch))
            .await
            .map_err(|e| anyhow::anyhow!("the reload task failed: {e}"))
            .and_then(|r| r);
        match prepared {
            Ok(p) => {
                self.apply(p);
                self.last_text = text;
            }
            Err(e) => {
                tracing::error!(
                    error = %format!("{e:#}"),
                    "the configuration was not reloaded; the running configuration stays in force"
                );
            }
        }
    }

    fn apply(&mut self, p: Prepared) {
        let old = &self.current;
        let new = &p.config;
        for (key, before, after) in [
            (
                "server.listen",
                old.server.listen.to_string(),
                new.server.listen.to_string(),
            ),
            (
                "store.path",
                old.store.path.display().to_string(),
                new.store.path.display().to_string(),
            ),
            (
                "store.cache_size",
                old.store.cache_size.0.to_string(),
                new.store.cache_size.0.to_string(),
            ),
            (
                "blog.hub",
                old.blog
                    .hub
                    .as_ref()
                    .map(|h| h.0.to_string())
                    .unwrap_or_default(),
                new.blog
                    .hub
                    .as_ref()
                    .map(|h| h.0.to_string())
                    .unwrap_or_default(),
            ),
        ] {
            if before != after {
                tracing::warn!(
                    setting = key,
                    running = %before,
                    file = %after,
                    "`{key}` changed: it takes effect only when the daemon restarts; the rest of the configuration is applied"
                );
            }
        }
        if new.blog.hub.is_some() && site_key(old) != site_key(new) {
            let old_slugs: Vec<String> = old.categories.iter().map(|c| c.slug()).collect();
            let new_slugs: Vec<String> = new.categories.iter().map(|c| c.slug()).collect();
            if old_slugs != new_slugs {
                tracing::warn!(
                    "the categories changed: the WebSub hub hears of the new category feeds after a restart"
                );
            }
        }
        if let Some(net) = p.net {
            self.ingest.set_net(net);
            tracing::info!("[fetch] settings changed: polls from now on use them");
        }
        if json(&old.topic) != json(&new.topic) || json(&old.categories) != json(&new.categories) {
            tracing::info!(
                "[topic] or the categories changed: they apply to new articles; `kawaraban recategorize` applies them to stored ones"
            );
        }
        self.ingest.set_judge(p.judge);
        if site_key(old) != site_key(new) {
            self.cache.set_site(Site::new(new));
        }
        self.health.set_admin_allow(new.server.admin_allow.clone());
        if let Some(opml) = &self.sources_opml {
            opml.set(crate::sources::opml::export(new));
        }
        if let Some(policy) = &self.retention {
            *policy.write().unwrap_or_else(|p| p.into_inner()) = new.store.retention();
        }
        self.ingest.store.set_dedup_window(new.store.dedup_window.0);

        let before = old.resolved_sources();
        let after = new.resolved_sources();
        let (mut added, mut removed, mut changed) = (0, 0, 0);
        for s in &after {
            match before.iter().find(|o| o.url == s.url) {
                None => {
                    added += 1;
                    tracing::info!(source = %s.name, url = %s.url, "source added");
                }
                Some(o) if o != s => {
                    changed += 1;
                    tracing::info!(source = %s.name, url = %s.url, "source settings changed: they apply from its next poll");
                }
                Some(_) => {}
            }
        }
        for o in &before {
            if !after.iter().any(|s| s.url == o.url) {
                removed += 1;
                tracing::info!(source = %o.name, url = %o.url, "source removed: no longer polled");
            }
        }
        let urls: Vec<&str> = after.iter().map(|s| s.url.as_str()).collect();
        self.health.metrics.retain_sources(&urls);
        self.sources.send_replace(Arc::new(after.clone()));
        tracing::info!(
            sources = after.len(),
            added,
            removed,
            changed,
            "configuration reloaded"
        );
        self.current = p.config;
    }
}

/// A loaded configuration with what applying it needs, all built before anything
/// changes, so a failure leaves the running configuration whole.
struct Prepared {
    config: Config,
    judge: Arc<crate::judge::Judge>,
    /// A new client when `[fetch]` changed.
    net: Option<Net>,
}

fn prepare(
    path: &Path,
    store: &crate::store::Store,
    old_fetch: &crate::config::FetchConfig,
) -> anyhow::Result<Prepared> {
    let config = Config::load(path)?;
    let judge = crate::judge::for_store(&config, store)?;
    let net = if json(&config.fetch) != json(old_fetch) {
        let fetcher = Fetcher::new(&config.fetch).context("setting up the HTTP client")?;
        Some(Net {
            fetcher,
            fetch: config.fetch.clone(),
        })
    } else {
        None
    };
    Ok(Prepared {
        judge: Arc::new(judge),
        net,
        config,
    })
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// What the published site is built from.
fn site_key(c: &Config) -> String {
    let republish: Vec<(String, crate::config::Republish)> = c
        .sources
        .iter()
        .filter_map(|s| Some((s.id_url()?.get_ref().0.to_string(), s.republish)))
        .collect();
    json(&(&c.blog, &c.categories, republish))
}
