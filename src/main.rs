//! The command line: parses arguments, calls into the library, maps failures to exit
//! codes (0 ok, 1 runtime failure, 2 usage or configuration error, 3 `fetch --strict`
//! with a failed source).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kawaraban::config::Config;
use kawaraban::daemon::{Daemon, termination_signal};
use kawaraban::ingest::{Ingest, SourceReport, run_pass};
use kawaraban::store::{Store, StoreError};
use kawaraban::{admin, fetch};

/// Standard output for commands. A reader that stops early (`kawaraban extract … |
/// head`) is normal for a command-line tool: the rest of the output is dropped, the
/// command still finishes (a store write completes and is flushed), and nothing is
/// reported. Any other write error is reported when the command ends.
mod stdout {
    use std::io::Write;
    use std::sync::Mutex;

    static FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

    pub fn write(args: std::fmt::Arguments) {
        let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
        if failed.is_some() {
            return;
        }
        if let Err(e) = std::io::stdout().lock().write_fmt(args) {
            *failed = Some(e);
        }
    }

    /// The write error to report, if any (a closed pipe is none).
    pub fn error() -> Option<std::io::Error> {
        let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
        failed
            .take()
            .filter(|e| e.kind() != std::io::ErrorKind::BrokenPipe)
    }
}

macro_rules! out {
    ($($arg:tt)*) => { stdout::write(format_args!($($arg)*)) };
}

macro_rules! outln {
    () => { stdout::write(format_args!("\n")) };
    ($($arg:tt)*) => { stdout::write(format_args!("{}\n", format_args!($($arg)*))) };
}

#[derive(Parser)]
#[command(
    name = "kawaraban",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("KAWARABAN_COMMIT"), ")"),
    about = "Runs a curated news blog: fetches feeds, stores articles, republishes them as Atom and RSS",
    after_help = "Examples:\n  kawaraban serve --config /etc/kawaraban/feeds.toml\n  kawaraban fetch && kawaraban render --out /var/www/blog   # from cron, without a daemon\n  kawaraban help sources add\n\nColours only on a terminal, never when NO_COLOR is set."
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        global = true,
        default_value = "feeds.toml",
        env = "KAWARABAN_CONFIG"
    )]
    config: PathBuf,
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as human-readable text (colours on a terminal unless NO_COLOR is
    /// set) or as JSON objects, one per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: poll every source on its schedule and serve the feeds.
    #[command(after_help = "Example:\n  kawaraban serve --config feeds.toml")]
    Serve,
    /// Poll every source once, print a summary per source, and exit (for cron).
    #[command(after_help = "Example:\n  kawaraban fetch --strict   # exit 3 if any source failed")]
    Fetch {
        /// Exit with status 3 when any source failed.
        #[arg(long)]
        strict: bool,
    },
    /// Write the whole blog (feeds, pages, stylesheet) from the store into a directory.
    #[command(after_help = "Example:\n  kawaraban render --out /var/www/blog")]
    Render {
        #[arg(long)]
        out: PathBuf,
    },
    /// Extract the article body and attribution from a news page.
    #[command(
        after_help = "Examples:\n  kawaraban extract https://news.example.jp/articles/1.html\n  kawaraban extract --file page.html --url https://news.example.jp/articles/1.html --format json"
    )]
    Extract {
        /// The page to fetch (or use --file).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        page: Option<String>,
        /// Read a saved page instead of fetching (its charset is detected from the bytes).
        #[arg(long, requires = "url")]
        file: Option<PathBuf>,
        /// The saved page's original URL (resolves its links).
        #[arg(long)]
        url: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// CSS selector for the body (repeatable); default: found automatically.
        #[arg(long)]
        selector: Vec<String>,
        /// CSS selector removed from the body (repeatable).
        #[arg(long)]
        remove: Vec<String>,
        /// Time zone for dates written without one.
        #[arg(long, default_value = "Asia/Tokyo")]
        timezone: String,
        /// Name the publisher from the page (credit line, JSON-LD, og:site_name).
        #[arg(long)]
        publisher_from_page: bool,
    },
    /// Validate the configuration and print it with every default filled in.
    #[command(
        name = "check-config",
        after_help = "Example:\n  kawaraban check-config --config config/offline.toml"
    )]
    CheckConfig,
    /// Tell whether pairs of texts are the same story (JSON lines on stdin).
    #[command(
        after_help = "Reads {\"a\": TEXT, \"b\": TEXT} per line and prints {\"duplicate\": true|false, \"score\": X} per line, in order.\n\nExample:\n  kawaraban dedup --pairs < pairs.jsonl"
    )]
    Dedup {
        /// Compare the pairs given on stdin (the only mode).
        #[arg(long, required = true)]
        pairs: bool,
    },
    /// File texts under categories (JSON lines on stdin), or explain a stored article.
    #[command(
        after_help = "Reads {\"title\", \"body\"} per line and prints {\"category\": NAME, \"score\": X, \"why\": \"...\"} per line, in order.\n\nExamples:\n  kawaraban categorize < articles.jsonl                 # the configured categories\n  kawaraban categorize --train labeled.jsonl < articles.jsonl\n  kawaraban categorize --explain https://news.example.jp/a/1.html"
    )]
    Categorize {
        /// Learn the categories from these JSON lines {"title", "body", "category"}
        /// instead of the configuration.
        #[arg(long, conflicts_with = "explain")]
        train: Option<PathBuf>,
        /// Print every decision about a stored article (its id or URL).
        #[arg(long, value_name = "ID-or-URL")]
        explain: Option<String>,
    },
    /// Re-run the topic filter and categories over stored articles (a dry run unless --apply).
    #[command(
        visible_alias = "recategorize",
        after_help = "Example:\n  kawaraban rejudge           # list what would change\n  kawaraban rejudge --apply   # change it; the feeds follow\n  kawaraban recategorize --apply   # the same, after a reload changed [topic] or the categories"
    )]
    Rejudge {
        #[arg(long)]
        apply: bool,
    },
    /// The editor's hand: list posts, hide, pin, refile, unfold or publish them by hand.
    #[command(
        after_help = "ID is the post's id (as in /post/ID/ or its tag: id), or the original article's URL.\n\nExamples:\n  kawaraban post list --category サイバー攻撃\n  kawaraban post hide https://news.example.jp/a/1.html\n  kawaraban post category 3f9c1a0b2d4e5f607182 ニュース"
    )]
    Post {
        #[command(subcommand)]
        command: PostCommand,
    },
    /// Write every stored article and each source's fetch state as JSON lines.
    #[command(
        after_help = "Needs the store to itself: stop the daemon first.\n\nExamples:\n  kawaraban export > backup.jsonl\n  kawaraban export --out backup.jsonl"
    )]
    Export {
        /// Write to this file (replaced only once the export is complete) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List, add, remove or check the configured sources.
    #[command(
        after_help = "Examples:\n  kawaraban sources list\n  kawaraban sources add 'Harbor Times' https://harbor.example/atom.xml --interval 2h\n  kawaraban sources check 'Harbor Times'\n  kawaraban sources remove https://harbor.example/atom.xml"
    )]
    Sources {
        #[command(subcommand)]
        command: SourcesCommand,
    },
    /// Export the sources as OPML, or import an OPML file's feeds.
    #[command(
        after_help = "Examples:\n  kawaraban opml export --out sources.opml\n  kawaraban opml import subscriptions.opml --dry-run"
    )]
    Opml {
        #[command(subcommand)]
        command: OpmlCommand,
    },
    /// Read an export into the store: all of it, or nothing when a line is bad.
    #[command(
        after_help = "Needs the store to itself: stop the daemon first. Articles keep their ids, dates and judgements; the indexes are rebuilt.\n\nExamples:\n  kawaraban import backup.jsonl\n  kawaraban import --replace < backup.jsonl"
    )]
    Import {
        /// The export to read; stdin when absent or `-`.
        file: Option<PathBuf>,
        /// Discard everything the store holds before importing.
        #[arg(long)]
        replace: bool,
    },
    /// Print what the store holds: counts, size on disk, oldest and newest article.
    #[command(after_help = "Examples:\n  kawaraban stats\n  kawaraban stats --json")]
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Prune now what `[store] keep_days` and `keep_max` no longer keep (the daemon also
    /// does it every hour).
    #[command(after_help = "Example:\n  kawaraban prune")]
    Prune,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum PostCommand {
    /// List the blog's posts (hidden ones too) and the articles folded into them, newest first.
    #[command(
        after_help = "Examples:\n  kawaraban post list --limit 20\n  kawaraban post list --category サイバー攻撃\n  kawaraban post list --skipped --json"
    )]
    List {
        /// List the skipped (off-topic) articles instead, with the reason.
        #[arg(long)]
        skipped: bool,
        /// Only posts filed under this category (name or slug).
        #[arg(long)]
        category: Option<String>,
        /// At most this many lines.
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per line, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Take a post (and the outlets folded into it) off every feed and page.
    #[command(after_help = "Example:\n  kawaraban post hide https://news.example.jp/a/1.html")]
    Hide { id: String },
    /// Undo `hide`.
    #[command(after_help = "Example:\n  kawaraban post show https://news.example.jp/a/1.html")]
    Show { id: String },
    /// Keep a post at the top of the front page.
    #[command(after_help = "Example:\n  kawaraban post pin 3f9c1a0b2d4e5f607182")]
    Pin { id: String },
    /// Undo `pin`.
    #[command(after_help = "Example:\n  kawaraban post unpin 3f9c1a0b2d4e5f607182")]
    Unpin { id: String },
    /// File a post under a category by hand: kept over rules and classifier, and learned from.
    #[command(after_help = "Example:\n  kawaraban post category 3f9c1a0b2d4e5f607182 ニュース")]
    Category {
        id: String,
        /// The category's name or slug.
        name: String,
    },
    /// Take an article out of the story it was folded into, for good.
    #[command(
        after_help = "Example:\n  kawaraban post unfold https://other.example.jp/news/2.html"
    )]
    Unfold { id: String },
    /// Publish an article the topic filter skipped.
    #[command(after_help = "Example:\n  kawaraban post publish https://news.example.jp/a/7.html")]
    Publish { id: String },
}

#[derive(Subcommand)]
enum SourcesCommand {
    /// Each source with how fetching it goes: last success, failures, articles, next poll.
    #[command(
        after_help = "Examples:\n  kawaraban sources list\n  kawaraban sources list --json | jq '.[] | select(.consecutive_failures > 0)'"
    )]
    List {
        /// One JSON array, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Add a feed to the configuration file (its comments and layout are kept).
    #[command(
        after_help = "Examples:\n  kawaraban sources add '山手新報' https://yamate.example/index.rdf\n  kawaraban sources add 'Harbor Times' https://harbor.example/atom.xml --interval 2h --selector 'div.story' --tag News/World\n\nA running daemon sees the edited file and polls the new source at once."
    )]
    Add {
        /// The publisher name shown in attributions.
        name: String,
        /// The feed's URL.
        url: String,
        /// How often it is polled ("30m", "2h"); default `[fetch] interval`.
        #[arg(long)]
        interval: Option<String>,
        /// CSS selector for the article body (repeatable).
        #[arg(long)]
        selector: Vec<String>,
        /// A tag, such as a folder path "News/Security" (repeatable).
        #[arg(long)]
        tag: Vec<String>,
    },
    /// Remove a source from the configuration file, by URL or by name.
    #[command(
        after_help = "Examples:\n  kawaraban sources remove https://yamate.example/index.rdf\n  kawaraban sources remove '山手新報'   # refused when several sources share the name"
    )]
    Remove {
        #[arg(value_name = "URL-or-NAME")]
        source: String,
    },
    /// Fetch a source once and show what a poll would store and why, storing nothing.
    #[command(
        after_help = "A URL that is not configured is checked with the default settings.\n\nExamples:\n  kawaraban sources check '山手新報'\n  kawaraban sources check https://new.example/feed --json"
    )]
    Check {
        #[arg(value_name = "URL-or-NAME")]
        source: String,
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OpmlCommand {
    /// Write the sources as OPML 2.0 (tags become folders).
    #[command(after_help = "Example:\n  kawaraban opml export --out sources.opml")]
    Export {
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Add the feeds of an OPML file (from any feed reader) to the configuration file.
    #[command(
        after_help = "Folders become tags; feeds already configured (same URL) are skipped.\n\nExamples:\n  kawaraban opml import subscriptions.opml --dry-run\n  kawaraban opml import subscriptions.opml"
    )]
    Import {
        file: PathBuf,
        /// Report what would be added without changing the configuration.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Html,
    Json,
}

/// A failure with the exit code it maps to.
struct Failure(u8, anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(1, e.into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(
        cli.verbose,
        matches!(cli.command, Command::Serve),
        cli.log_format,
    );
    fetch::install_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kawaraban: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(run(cli));
    if let Some(e) = stdout::error() {
        eprintln!("kawaraban: cannot write to standard output: {e}");
        return ExitCode::from(1);
    }
    match result {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, e)) => {
            eprintln!("kawaraban: {e:#}");
            ExitCode::from(code)
        }
    }
}

fn init_logging(verbose: u8, daemon: bool, format: LogFormat) {
    let default = match (verbose, daemon) {
        (0, false) => "warn",
        (0, true) | (1, _) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default},html5ever=off,sled=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour(&std::io::stderr())).init(),
        // A log collector reads these: no colour codes, one object per line.
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Colour codes go only to a terminal that shows them, and never when NO_COLOR is set
/// to anything but the empty string (no-color.org): the rule clap follows for help and
/// usage errors, so every output of one run agrees.
fn colour(stream: &impl IsTerminal) -> bool {
    stream.is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var_os("TERM").is_some_and(|t| t != "dumb")
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path).map_err(|e| Failure(2, e.into()))
}

async fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::CheckConfig => {
            let config = load_config(&cli.config)?;
            out!("{}", config.to_resolved_toml());
            eprintln!(
                "{}: ok, {} sources",
                cli.config.display(),
                config.sources.len()
            );
            Ok(0)
        }
        Command::Serve => serve(load_config(&cli.config)?, &cli.config).await,
        Command::Fetch { strict } => fetch_once(load_config(&cli.config)?, strict).await,
        Command::Render { out } => render_once(load_config(&cli.config)?, &out).await,
        Command::Extract {
            page,
            file,
            url,
            format,
            selector,
            remove,
            timezone,
            publisher_from_page,
        } => {
            let timezone = timezone.parse::<chrono_tz::Tz>().map_err(|_| {
                Failure(
                    2,
                    anyhow::anyhow!("--timezone {timezone:?} is not an IANA time zone"),
                )
            })?;
            let opts = kawaraban::extract::Options {
                selector,
                remove,
                timezone,
                publisher_from_page,
            };
            extract_page(page, file, url, format, &opts).await
        }
        Command::Dedup { .. } => dedup_pairs(),
        Command::Categorize {
            train: Some(train), ..
        } => categorize_trained(&train),
        Command::Categorize {
            explain: Some(what),
            ..
        } => explain(load_config(&cli.config)?, &what).await,
        Command::Categorize { .. } => categorize_configured(&load_config(&cli.config)?),
        Command::Rejudge { apply } => rejudge(load_config(&cli.config)?, &cli.config, apply).await,
        Command::Post { command } => post(load_config(&cli.config)?, command).await,
        Command::Export { out } => export(&load_config(&cli.config)?, out.as_deref()),
        Command::Import { file, replace } => {
            import(&load_config(&cli.config)?, file.as_deref(), replace)
        }
        Command::Stats { json } => store_stats(&load_config(&cli.config)?, json).await,
        Command::Prune => prune(&load_config(&cli.config)?).await,
        Command::Sources { command } => sources_command(&cli.config, command).await,
        Command::Opml { command } => opml_command(&cli.config, command),
    }
}

/// Exit 2 for what the user can fix in the request, 1 for the rest.
fn sources_failure(e: anyhow::Error) -> Failure {
    if e.downcast_ref::<kawaraban::sources::UsageError>().is_some() {
        Failure(2, e)
    } else {
        Failure(1, e)
    }
}

async fn sources_command(path: &Path, command: SourcesCommand) -> Result<u8, Failure> {
    use kawaraban::sources::{self, check, edit::NewSource, status};
    match command {
        SourcesCommand::List { json } => {
            let config = load_config(path)?;
            let states = source_states(&config).await?;
            let rows = status::rows(&config, states.as_deref().unwrap_or_default());
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&rows).context("writing JSON")?
                );
            } else {
                out!("{}", status::table(&rows, chrono::Utc::now()));
                if states.is_none() {
                    eprintln!(
                        "no store at {} yet: no source has been polled",
                        config.store.path.display()
                    );
                }
            }
        }
        SourcesCommand::Add {
            name,
            url,
            interval,
            selector,
            tag,
        } => {
            let new = NewSource {
                interval,
                selector,
                tags: tag,
                ..NewSource::feed(name.clone(), url.clone())
            };
            sources::add(path, new).map_err(sources_failure)?;
            eprintln!(
                "added {name:?} ({url}) to {}; a running daemon sees the edit and polls it at once",
                path.display()
            );
        }
        SourcesCommand::Remove { source } => {
            let (name, url) = sources::remove(path, &source).map_err(sources_failure)?;
            eprintln!(
                "removed {name:?} ({url}) from {}; what it stored stays in the store",
                path.display()
            );
        }
        SourcesCommand::Check { source, json } => {
            let config = load_config(path)?;
            let (src, configured) = check::target(&config, &source).map_err(sources_failure)?;
            let report = match source_store(&config)? {
                StoreAccess::Open(store) => {
                    check::check(&config, &src, configured, Some(&store)).await?
                }
                StoreAccess::Missing => check::check(&config, &src, configured, None).await?,
                StoreAccess::Daemon => {
                    let socket = admin::socket_path(&config.store.path);
                    let req = check::CheckRequest {
                        config: std::path::absolute(path)
                            .with_context(|| format!("resolving {}", path.display()))?,
                        source: source.clone(),
                    };
                    let body = serde_json::to_string(&req).context("writing the request")?;
                    match admin::request(&socket, "POST", "/check", &body).await {
                        Ok(answer) => {
                            serde_json::from_str(&answer).context("reading the daemon's answer")?
                        }
                        Err(e) if !admin::daemon_running(&socket).await => {
                            eprintln!(
                                "the store is held but no daemon answers ({e:#}): checking without it"
                            );
                            check::check(&config, &src, configured, None).await?
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).context("writing JSON")?
                );
            } else {
                out!("{}", check::render(&report));
            }
        }
    }
    Ok(0)
}

enum StoreAccess {
    Open(Store),
    /// A running daemon holds it.
    Daemon,
    /// Nothing was ever stored: no store to open (and none is created).
    Missing,
}

fn source_store(config: &Config) -> Result<StoreAccess, Failure> {
    if !config.store.path.exists() {
        return Ok(StoreAccess::Missing);
    }
    Ok(match open_store(config)? {
        Some(store) => StoreAccess::Open(store),
        None => StoreAccess::Daemon,
    })
}

/// Every source's fetch state, from the store or the daemon holding it; None when
/// there is no store yet.
async fn source_states(
    config: &Config,
) -> Result<Option<Vec<(String, kawaraban::store::SourceState)>>, Failure> {
    Ok(match source_store(config)? {
        StoreAccess::Missing => None,
        StoreAccess::Open(store) => Some(store.source_states()?),
        StoreAccess::Daemon => {
            let socket = admin::socket_path(&config.store.path);
            let body = admin::request(&socket, "GET", "/sources", "").await?;
            Some(serde_json::from_str(&body).context("reading the daemon's answer")?)
        }
    })
}

fn opml_command(path: &Path, command: OpmlCommand) -> Result<u8, Failure> {
    use kawaraban::sources::{self, opml};
    match command {
        OpmlCommand::Export { out } => {
            let xml = opml::export(&load_config(path)?);
            match out {
                None => out!("{xml}"),
                Some(out) => sources::write_atomic(&out, &xml)?,
            }
        }
        OpmlCommand::Import { file, dry_run } => {
            let bytes = read_bounded(&file, opml::MAX_BYTES)
                .map_err(|e| Failure(2, e.context(format!("{}", file.display()))))?;
            let report = sources::import_opml(path, &bytes, dry_run)
                .map_err(|e| sources_failure(e.context(format!("importing {}", file.display()))))?;
            let verb = if dry_run { "would add" } else { "added" };
            for f in &report.added {
                let tags = if f.tags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", f.tags.join(", "))
                };
                outln!("{verb:<13} {}  {}{tags}", f.name, f.url);
            }
            for (f, existing) in &report.duplicates {
                outln!(
                    "{:<13} {}  {}  (already the source {existing:?})",
                    "skipped",
                    f.name,
                    f.url
                );
            }
            for i in &report.invalid {
                outln!("{:<13} line {}: {}  ({})", "invalid", i.line, i.text, i.why);
            }
            outln!(
                "{} {verb}, {} skipped as duplicates, {} invalid{}",
                report.added.len(),
                report.duplicates.len(),
                report.invalid.len(),
                if dry_run || report.added.is_empty() {
                    format!("; {} was not changed", path.display())
                } else {
                    format!(" ({} updated)", path.display())
                }
            );
        }
    }
    Ok(0)
}

/// A file's bytes, refused when larger than `max`.
fn read_bounded(path: &Path, max: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    f.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        anyhow::bail!("larger than {} MiB", max >> 20);
    }
    Ok(bytes)
}

/// Opens the store for export or import, which read or replace all of it at once: a
/// running daemon would change it underneath, so they do not go through its socket.
fn open_store_alone(config: &Config) -> Result<Store, Failure> {
    match open_store(config)? {
        Some(store) => Ok(store),
        None => Err(Failure(
            1,
            anyhow::anyhow!(
                "the store at {} is in use by a running daemon: stop `kawaraban serve` first (export and import need the store to themselves)",
                config.store.path.display()
            ),
        )),
    }
}

fn export(config: &Config, out: Option<&Path>) -> Result<u8, Failure> {
    let store = open_store_alone(config)?;
    let counts = match out {
        None => store.export(std::io::BufWriter::new(std::io::stdout().lock()))?,
        Some(path) => {
            // Written aside and renamed, so a failed export never clobbers a good one.
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let written = store.export(&mut writer).and_then(|c| {
                writer
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|f| f.sync_all())
                    .map_err(kawaraban::store::TransferError::Write)
                    .map(|()| c)
            });
            match written {
                Ok(c) => {
                    std::fs::rename(&partial, path).with_context(|| {
                        format!("renaming {} to {}", partial.display(), path.display())
                    })?;
                    c
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    return Err(e.into());
                }
            }
        }
    };
    eprintln!(
        "exported {} articles and {} sources",
        counts.articles, counts.sources
    );
    Ok(0)
}

fn import(config: &Config, file: Option<&Path>, replace: bool) -> Result<u8, Failure> {
    use kawaraban::store::TransferError;
    let store = open_store_alone(config)?;
    let (name, imported) = match file.filter(|f| f.as_os_str() != "-") {
        None => (
            "stdin".to_owned(),
            store.import(std::io::stdin().lock(), replace),
        ),
        Some(path) => {
            let f = std::fs::File::open(path)
                .map_err(|e| Failure(2, anyhow::anyhow!("{}: {e}", path.display())))?;
            (
                path.display().to_string(),
                store.import(std::io::BufReader::new(f), replace),
            )
        }
    };
    let counts = imported.map_err(|e| match e {
        TransferError::Line { .. } => {
            Failure(2, anyhow::anyhow!("{name} {e}; nothing was imported"))
        }
        TransferError::Read(_) => Failure(2, anyhow::anyhow!("{name}: {e}; nothing was imported")),
        e => Failure(1, e.into()),
    })?;
    eprintln!(
        "imported {} articles and {} sources into {}",
        counts.articles,
        counts.sources,
        config.store.path.display()
    );
    Ok(0)
}

/// Lines of JSON objects from stdin, each parsed as `T`; a bad line stops with its number.
fn stdin_json_lines<T: serde::de::DeserializeOwned>(
    mut each: impl FnMut(T) -> anyhow::Result<()>,
) -> Result<(), Failure> {
    use std::io::BufRead;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line)
            .map_err(|e| Failure(2, anyhow::anyhow!("stdin line {}: {e}", n + 1)))?;
        each(value)?;
    }
    Ok(())
}

fn dedup_pairs() -> Result<u8, Failure> {
    use kawaraban::judge::dedup;
    use std::io::Write;
    #[derive(serde::Deserialize)]
    struct Pair {
        a: String,
        b: String,
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    stdin_json_lines(|p: Pair| {
        let v = dedup::compare(&dedup::fingerprint(&p.a), &dedup::fingerprint(&p.b));
        let line = serde_json::json!({ "duplicate": v.duplicate, "score": v.score });
        writeln!(out, "{line}").context("writing stdout")
    })?;
    out.flush().context("writing stdout")?;
    Ok(0)
}

#[derive(serde::Deserialize)]
struct Text {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
}

fn categorize_trained(train: &Path) -> Result<u8, Failure> {
    use kawaraban::config::CategoryConfig;
    use kawaraban::judge::category::{Categorizer, read_examples};
    let examples = read_examples(train).map_err(|e| Failure(2, anyhow::anyhow!(e)))?;
    let mut configs: Vec<CategoryConfig> = Vec::new();
    for e in &examples {
        if !configs.iter().any(|c| c.name == e.category) {
            configs.push(CategoryConfig {
                name: e.category.clone(),
                slug: None,
                keywords: Vec::new(),
                examples: None,
                // No default: with a training file the classifier always decides.
                default: false,
            });
        }
    }
    if configs.is_empty() {
        return Err(Failure(
            2,
            anyhow::anyhow!("{}: no examples to learn from", train.display()),
        ));
    }
    let started = std::time::Instant::now();
    let categorizer =
        Categorizer::new(&configs, &examples).map_err(|e| Failure(2, anyhow::anyhow!(e)))?;
    let train_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let code = print_categories(&categorizer)?;
    // With -v, for comparisons that must not count process start-up and I/O apart.
    tracing::info!(
        examples = examples.len(),
        train_seconds,
        predict_seconds = started.elapsed().as_secs_f64(),
        "categorized"
    );
    Ok(code)
}

fn categorize_configured(config: &Config) -> Result<u8, Failure> {
    let judge =
        kawaraban::judge::Judge::from_config(config, &[]).map_err(|e| Failure(2, e.into()))?;
    if judge.categories.is_empty() {
        return Err(Failure(
            2,
            anyhow::anyhow!(
                "no [[category]] in the configuration: add categories, or pass --train FILE"
            ),
        ));
    }
    print_categories(&judge.categories)
}

fn print_categories(categorizer: &kawaraban::judge::category::Categorizer) -> Result<u8, Failure> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    stdin_json_lines(|t: Text| {
        let line = match categorizer.decide(&t.title, &t.body) {
            Some(c) => serde_json::json!({ "category": c.name, "score": c.score, "why": c.why }),
            None => serde_json::json!({ "category": null, "score": 0.0, "why": "no categories" }),
        };
        writeln!(out, "{line}").context("writing stdout")
    })?;
    out.flush().context("writing stdout")?;
    Ok(0)
}

async fn explain(config: Config, what: &str) -> Result<u8, Failure> {
    let text = match open_store(&config)? {
        Some(store) => kawaraban::judge::explain(&store, what)?,
        None => {
            let socket = admin::socket_path(&config.store.path);
            let body = admin::request(&socket, "POST", "/explain", what).await?;
            Some(body).filter(|b| !b.is_empty())
        }
    };
    match text {
        Some(t) => {
            out!("{t}");
            Ok(0)
        }
        None => Err(Failure(
            1,
            anyhow::anyhow!("no stored article has the id or URL {what:?}"),
        )),
    }
}

async fn rejudge(config: Config, config_path: &Path, apply: bool) -> Result<u8, Failure> {
    let changes: Vec<kawaraban::judge::Change> = match open_store(&config)? {
        Some(store) => {
            let judge = kawaraban::judge::for_store(&config, &store).map_err(|e| Failure(2, e))?;
            let changes = kawaraban::judge::rejudge(&store, &judge, apply)?;
            store.flush()?;
            changes
        }
        None => {
            eprintln!("a daemon is running: asking it to rejudge (with its configuration)");
            let socket = admin::socket_path(&config.store.path);
            let config_path = std::path::absolute(config_path)
                .with_context(|| format!("resolving {}", config_path.display()))?;
            let req = kawaraban::daemon::RejudgeRequest {
                config: config_path,
                apply,
            };
            let body = serde_json::to_string(&req).context("writing the request")?;
            let body = admin::request(&socket, "POST", "/rejudge", &body).await?;
            serde_json::from_str(&body).context("reading the daemon's answer")?
        }
    };
    for c in &changes {
        outln!("{}  {}\n    {} -> {}", c.id, c.title, c.before, c.after);
    }
    outln!(
        "{} articles {}",
        changes.len(),
        if apply {
            "changed"
        } else {
            "would change (run with --apply to change them)"
        }
    );
    Ok(0)
}

async fn post(config: Config, command: PostCommand) -> Result<u8, Failure> {
    use kawaraban::editor::{self, Action, EditError, EditRequest, Edited, ListRequest, Listed};
    let socket = admin::socket_path(&config.store.path);
    let (target, action) = match command {
        PostCommand::List {
            skipped,
            category,
            limit,
            json,
        } => {
            let req = ListRequest {
                skipped,
                category,
                limit,
            };
            let items: Vec<Listed> = match open_store(&config)? {
                Some(store) => editor::list(&store, &req)?,
                None => {
                    let body = serde_json::to_string(&req).context("writing the request")?;
                    let body = admin::request(&socket, "POST", "/posts", &body).await?;
                    serde_json::from_str(&body).context("reading the daemon's answer")?
                }
            };
            if json {
                for l in &items {
                    outln!("{}", serde_json::to_string(l).context("writing JSON")?);
                }
            } else {
                out!("{}", editor::format_list(&items, config.blog.timezone.0));
            }
            return Ok(0);
        }
        PostCommand::Hide { id } => (id, Action::Hide),
        PostCommand::Show { id } => (id, Action::Show),
        PostCommand::Pin { id } => (id, Action::Pin),
        PostCommand::Unpin { id } => (id, Action::Unpin),
        PostCommand::Category { id, name } => (id, Action::Category(name)),
        PostCommand::Unfold { id } => (id, Action::Unfold),
        PostCommand::Publish { id } => (id, Action::Publish),
    };
    let req = EditRequest { target, action };
    let result: Result<Edited, EditError> = match open_store(&config)? {
        Some(store) => {
            let judge = kawaraban::judge::for_store(&config, &store).map_err(|e| Failure(2, e))?;
            editor::edit(&store, &judge, &req, chrono::Utc::now())
        }
        None => {
            #[derive(serde::Deserialize)]
            #[serde(untagged)]
            enum Reply {
                Ok { ok: Edited },
                Err(EditError),
            }
            let body = serde_json::to_string(&req).context("writing the request")?;
            let body = admin::request(&socket, "POST", "/post", &body).await?;
            match serde_json::from_str(&body).context("reading the daemon's answer")? {
                Reply::Ok { ok } => Ok(ok),
                Reply::Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(e) => {
            outln!("{}  {}\n    {}", e.id, e.title, e.message);
            Ok(0)
        }
        Err(e @ EditError::Usage(_)) => Err(Failure(2, e.into())),
        Err(e) => Err(Failure(1, e.into())),
    }
}

/// Opens the store, or says that a daemon holds it (then the caller asks the daemon).
async fn store_stats(config: &Config, json: bool) -> Result<u8, Failure> {
    let stats: kawaraban::store::Stats = match open_store(config)? {
        Some(store) => store.stats()?,
        None => {
            let socket = admin::socket_path(&config.store.path);
            let body = admin::request(&socket, "POST", "/stats", "").await?;
            serde_json::from_str(&body).context("reading the daemon's answer")?
        }
    };
    if json {
        outln!("{}", serde_json::to_string(&stats).context("writing JSON")?);
        return Ok(0);
    }
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
        )
    };
    outln!("store         {}", config.store.path.display());
    outln!(
        "size on disk  {:.1} MiB",
        stats.size_on_disk as f64 / (1 << 20) as f64
    );
    outln!("articles      {}", stats.articles);
    outln!("  posts       {}", stats.posts);
    outln!(
        "  not posts   {} (folded, off topic or hidden)",
        stats.not_posts
    );
    outln!("  pending     {}", stats.pending);
    outln!("tombstones    {}", stats.tombstones);
    outln!("sources       {}", stats.sources);
    outln!("oldest        {}", day(stats.oldest));
    outln!("newest        {}", day(stats.newest));
    Ok(0)
}

async fn prune(config: &Config) -> Result<u8, Failure> {
    let pruned: kawaraban::store::retention::Pruned = match open_store(config)? {
        Some(store) => {
            let p = store.prune(config.store.retention(), chrono::Utc::now())?;
            store.flush()?;
            p
        }
        None => {
            let socket = admin::socket_path(&config.store.path);
            let body = admin::request(&socket, "POST", "/prune", "").await?;
            serde_json::from_str(&body).context("reading the daemon's answer")?
        }
    };
    let window = config.store.dedup_window.0.as_secs();
    let window = if window.is_multiple_of(86_400) {
        format!("{} days", window / 86_400)
    } else {
        humantime::format_duration(config.store.dedup_window.0).to_string()
    };
    outln!(
        "pruned {} articles, expired {} tombstones, dropped {} articles first seen over {window} ago from the dedup index",
        pruned.articles,
        pruned.tombstones_expired,
        pruned.dedup_expired,
    );
    Ok(0)
}

fn open_store(config: &Config) -> Result<Option<Store>, Failure> {
    match Store::open(&config.store.path, config.store.cache_size.0) {
        Ok(s) => {
            s.set_dedup_window(config.store.dedup_window.0);
            Ok(Some(s))
        }
        Err(StoreError::Locked(_)) => Ok(None),
        Err(e) => Err(Failure(1, e.into())),
    }
}

async fn serve(config: Config, config_path: &Path) -> Result<u8, Failure> {
    let Some(store) = open_store(&config)? else {
        return Err(Failure(
            1,
            anyhow::anyhow!(
                "the store at {} is held by another kawaraban process: a daemon is already running",
                config.store.path.display()
            ),
        ));
    };
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (`[server] listen` in the config)",
                config.server.listen
            )
        })?;
    let daemon = Daemon::new(&config, store)?.watch_config(config_path.to_owned());
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        termination_signal().await;
        tracing::info!("signal received: shutting down");
        let _ = tx.send(true);
    });
    tracing::info!(listen = %config.server.listen, sources = config.sources.len(), "serving");
    daemon.run(listener, rx).await?;
    Ok(0)
}

async fn fetch_once(config: Config, strict: bool) -> Result<u8, Failure> {
    let sources = config.resolved_sources();
    let reports = match open_store(&config)? {
        Some(store) => {
            let judge = kawaraban::judge::for_store(&config, &store).map_err(|e| Failure(2, e))?;
            let ingest = Arc::new(
                Ingest::new(config.fetch.clone(), store)
                    .context("setting up the HTTP client")?
                    .with_judge(Arc::new(judge)),
            );
            ingest.judge_pending()?;
            let bar = progress_bar(sources.len() as u64);
            let reports = run_pass(ingest, &sources, |r| match &bar {
                Some(b) => {
                    b.set_message(r.name.clone());
                    b.inc(1);
                }
                None => eprintln!("{}: {}", r.name, r.status_word()),
            })
            .await?;
            if let Some(b) = bar {
                b.finish_and_clear();
            }
            reports
        }
        None => {
            eprintln!("a daemon is running: asking it to fetch");
            let socket = admin::socket_path(&config.store.path);
            let body = admin::request(&socket, "POST", "/fetch", "").await?;
            serde_json::from_str::<Vec<SourceReport>>(&body)
                .context("reading the daemon's report")?
        }
    };
    print_summary(&reports);
    let failed = reports.iter().filter(|r| r.error.is_some()).count();
    Ok(if strict && failed > 0 { 3 } else { 0 })
}

fn progress_bar(len: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len);
    // No colour in the template: the bar redraws its line with cursor codes, which a
    // terminal needs, but shows nothing NO_COLOR would have to turn off.
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

fn print_summary(reports: &[SourceReport]) {
    let width = reports
        .iter()
        .map(|r| display_width(&r.name))
        .max()
        .unwrap_or(4)
        .max(6);
    let (mut new, mut unchanged, mut failed) = (0, 0, 0);
    for r in reports {
        let pad = width - display_width(&r.name);
        let detail = match (r.status_word(), &r.error) {
            (_, Some(e)) => e.clone(),
            ("new", _) => {
                let mut judged = Vec::new();
                if r.off_topic > 0 {
                    judged.push(format!("{} off topic", r.off_topic));
                }
                if r.folded > 0 {
                    judged.push(format!("{} folded", r.folded));
                }
                if r.skipped > 0 {
                    judged.push(format!("{} past the per-poll limit, not read", r.skipped));
                }
                if r.pruned > 0 {
                    judged.push(format!("{} pruned before, not stored again", r.pruned));
                }
                let judged = if judged.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", judged.join(", "))
                };
                format!(
                    "{} new, {} updated of {} entries{judged}",
                    r.new, r.updated, r.entries
                )
            }
            _ if r.pruned > 0 => format!(
                "{} entries ({} pruned before, not stored again)",
                r.entries, r.pruned
            ),
            _ => format!("{} entries", r.entries),
        };
        outln!(
            "{}{}  {:<9}  {}  {}",
            r.name,
            " ".repeat(pad),
            r.status_word(),
            r.url,
            detail
        );
        if let Some(to) = &r.moved_to {
            outln!(
                "{}  moved permanently to {to}: update its url in the config",
                " ".repeat(width)
            );
        }
        match r.status_word() {
            "new" => new += 1,
            "error" | "gone" => failed += 1,
            _ => unchanged += 1,
        }
    }
    outln!(
        "{} sources: {new} with new articles, {unchanged} unchanged, {failed} failed; {} articles stored",
        reports.len(),
        reports.iter().map(|r| r.new).sum::<usize>()
    );
}

/// Columns a name takes on a terminal: East Asian wide characters take two.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| {
            if ('\u{1100}'..='\u{115F}').contains(&c) || ('\u{2E80}'..='\u{FFDC}').contains(&c) {
                2
            } else {
                1
            }
        })
        .sum()
}

async fn extract_page(
    page: Option<String>,
    file: Option<PathBuf>,
    url: Option<String>,
    format: Format,
    opts: &kawaraban::extract::Options,
) -> Result<u8, Failure> {
    let parse_url = |u: &str| {
        url::Url::parse(u).map_err(|e| Failure(2, anyhow::anyhow!("{u:?} is not a URL: {e}")))
    };
    let (html, page_url) = match (file, page) {
        (Some(path), _) => {
            let page_url = parse_url(url.as_deref().unwrap_or_default())?;
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            (
                kawaraban::extract::decode_page(&bytes, None, &page_url),
                page_url,
            )
        }
        (None, Some(page)) => {
            let page_url = parse_url(&page)?;
            let fetcher = fetch::Fetcher::new(&kawaraban::config::FetchConfig::default())?;
            let req = fetch::Request {
                url: &page_url,
                etag: None,
                last_modified: None,
                max_bytes: kawaraban::config::FetchConfig::default().max_bytes.0,
            };
            let resp = fetcher
                .fetch(&req)
                .await
                .with_context(|| format!("fetching {page_url}"))?;
            let body = resp.body.unwrap_or_default();
            (
                kawaraban::extract::decode_page(
                    &body,
                    resp.content_type.as_deref(),
                    &resp.final_url,
                ),
                resp.final_url,
            )
        }
        (None, None) => {
            return Err(Failure(
                2,
                anyhow::anyhow!("give a URL or --file PAGE --url URL"),
            ));
        }
    };
    let extracted = kawaraban::extract::extract(&html, &page_url, opts)
        .map_err(|e| Failure(1, anyhow::anyhow!("{page_url}: {e}")))?;
    match format {
        Format::Text => outln!("{}", extracted.body_text),
        Format::Html => outln!("{}", extracted.body_html),
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&extracted).context("writing JSON")?
        ),
    }
    Ok(0)
}

async fn render_once(config: Config, out: &Path) -> Result<u8, Failure> {
    match open_store(&config)? {
        Some(store) => {
            let site = kawaraban::publish::site::Site::new(&config);
            let files = site.write_dir(&store, out)?;
            eprintln!("wrote {files} files to {}", out.display());
        }
        None => {
            let socket = admin::socket_path(&config.store.path);
            let abs =
                std::path::absolute(out).with_context(|| format!("resolving {}", out.display()))?;
            let body = admin::request(&socket, "POST", "/render", &abs.to_string_lossy()).await?;
            eprintln!("the running daemon wrote the feeds: {body}");
        }
    }
    Ok(0)
}
