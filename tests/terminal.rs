//! The command line as a person meets it: every command's `--help` shows an example,
//! and colour codes appear only on a terminal and never with NO_COLOR set.

mod common;

use std::io::Read;
use std::path::Path;

use common::{config_text, start_news_server, text};

fn kawaraban() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kawaraban"));
    c.env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .env("TERM", "xterm-256color");
    c
}

/// The subcommands listed under "Commands:" in a help text, with their aliases.
fn subcommands(help: &str) -> Vec<String> {
    let mut names = Vec::new();
    let Some((_, rest)) = help.split_once("Commands:\n") else {
        return names;
    };
    for line in rest.lines().take_while(|l| !l.trim().is_empty()) {
        // A command's line starts two spaces in; a wrapped description further in.
        let Some(entry) = line.strip_prefix("  ").filter(|e| !e.starts_with(' ')) else {
            continue;
        };
        names.extend(entry.split_whitespace().next().map(str::to_owned));
        // clap writes `[alias: a]` for one and `[aliases: a, b]` for more.
        if let Some((_, aliases)) = entry
            .split_once("[alias: ")
            .or_else(|| entry.split_once("[aliases: "))
        {
            names.extend(
                aliases
                    .trim_end_matches(']')
                    .split(", ")
                    .map(|a| a.trim().to_owned()),
            );
        }
    }
    names
}

#[test]
fn every_command_help_shows_an_example() {
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    let mut seen = Vec::new();
    while let Some(path) = todo.pop() {
        let out = kawaraban().args(&path).arg("--help").output().unwrap();
        let help = text(&out.stdout);
        let shown = format!("kawaraban {} --help", path.join(" "));
        assert!(out.status.success(), "{shown}: {}", text(&out.stderr));
        assert!(
            help.contains("Example"),
            "{shown} shows no example:\n{help}"
        );
        for sub in subcommands(&help) {
            // clap's own `help` takes command names, not --help: it shows the same
            // texts as the commands' --help, which this walk reads anyway.
            if sub == "help" {
                continue;
            }
            let mut next = path.clone();
            next.push(sub);
            todo.push(next);
        }
        seen.push(path.join(" "));
    }
    // The walk found the tree, nested commands and aliases included.
    for expected in [
        "serve",
        "fetch",
        "render",
        "sources",
        "sources add",
        "sources list",
        "opml import",
        "post",
        "post hide",
        "post category",
        "stats",
        "prune",
        "rejudge",
        "recategorize",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "{expected} not reached: {seen:?}"
        );
    }
    // `kawaraban help` alone is the top-level help, examples included.
    let out = kawaraban().arg("help").output().unwrap();
    assert!(text(&out.stdout).contains("Example"));
}

/// A config with the loopback news server's feeds (one of them broken, so `fetch`
/// logs a warning) and a store in `dir`.
fn news_config(news: &common::NewsServer, dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("feeds.toml");
    std::fs::write(&cfg, config_text(news, &dir.join("db"), "127.0.0.1:0")).unwrap();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_escape_codes_when_output_is_not_a_terminal() {
    let news = start_news_server().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = news_config(&news, dir.path());
    let runs: [&[&str]; 5] = [
        &["-vv", "fetch"],
        &["-vv", "sources", "list"],
        &["sources", "--help"],
        &["frobnicate"],
        &["-v", "--log-format", "json", "fetch"],
    ];
    for args in runs {
        let out = tokio::task::spawn_blocking({
            let cfg = cfg.clone();
            move || {
                kawaraban()
                    .arg("--config")
                    .arg(&cfg)
                    .args(args)
                    .output()
                    .unwrap()
            }
        })
        .await
        .unwrap();
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            !stdout.is_empty() || !stderr.is_empty(),
            "{args:?} wrote nothing"
        );
        assert!(!stdout.contains('\u{1b}'), "{args:?} stdout: {stdout:?}");
        assert!(!stderr.contains('\u{1b}'), "{args:?} stderr: {stderr:?}");
    }
}

/// Runs the binary with stdin, stdout and stderr on a new pseudo-terminal and returns
/// everything it wrote there.
fn on_a_terminal(cfg: &Path, args: &[&str], no_color: Option<&str>) -> String {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let name = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_str().unwrap())
        .unwrap();
    let mut cmd = kawaraban();
    cmd.arg("--config")
        .arg(cfg)
        .args(args)
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    if let Some(v) = no_color {
        cmd.env("NO_COLOR", v);
    }
    let mut child = cmd.spawn().unwrap();
    // The parent's copies of the terminal side go with `cmd`: once the child exits,
    // reading the master side ends (EIO) instead of waiting for more.
    drop(cmd);
    let mut master = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0; 4096];
        loop {
            match master.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        all
    });
    child.wait().unwrap();
    text(&reader.join().unwrap())
}

/// A colour (SGR) sequence: ESC [ digits and semicolons, then `m`. Cursor movement (the
/// progress bar redrawing its line) is not colour.
fn has_colour(s: &str) -> bool {
    s.match_indices("\u{1b}[").any(|(i, _)| {
        let rest = &s[i + 2..];
        let params = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .count();
        rest[params..].starts_with('m')
    })
}

#[test]
fn has_colour_tells_colour_from_cursor_codes() {
    assert!(has_colour("\u{1b}[1mbold\u{1b}[0m"));
    assert!(has_colour("x \u{1b}[38;5;2mWARN"));
    assert!(!has_colour("\u{1b}[2K\r\u{1b}[1A plain"));
}

/// `on_a_terminal` with a fresh store each time, so every `fetch` polls (and logs) the
/// same as the first.
async fn run_on_a_terminal(
    news: &common::NewsServer,
    args: &[&str],
    no_color: Option<&str>,
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let cfg = news_config(news, dir.path());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let no_color = no_color.map(str::to_owned);
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        on_a_terminal(&cfg, &args, no_color.as_deref())
    })
    .await
    .unwrap();
    drop(dir);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_colour_unless_no_color_is_set() {
    let news = start_news_server().await;

    // Logs (ours) and help (clap's) are coloured on a terminal...
    let fetch = run_on_a_terminal(&news, &["-v", "fetch"], None).await;
    assert!(fetch.contains("poll failed"), "{fetch:?}");
    assert!(has_colour(&fetch), "no colour on a terminal: {fetch:?}");
    let help = run_on_a_terminal(&news, &["fetch", "--help"], None).await;
    assert!(has_colour(&help), "no colour on a terminal: {help:?}");
    // ...and so with NO_COLOR set to the empty string, which does not count as set.
    let empty = run_on_a_terminal(&news, &["-v", "fetch"], Some("")).await;
    assert!(has_colour(&empty), "{empty:?}");

    // NO_COLOR turns every colour off, on a terminal too.
    for args in [
        &["-v", "fetch"][..],
        &["-vv", "sources", "list"],
        &["fetch", "--help"],
        &["frobnicate"],
    ] {
        let out = run_on_a_terminal(&news, args, Some("1")).await;
        assert!(!out.trim().is_empty(), "{args:?} wrote nothing");
        assert!(!has_colour(&out), "{args:?} with NO_COLOR: {out:?}");
    }
}
