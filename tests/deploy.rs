//! The shipped systemd unit (contrib/kawaraban.service) and its configuration
//! (contrib/feeds.toml): well-formed, and consistent with what the daemon needs — the
//! store and its admin socket where the unit lets it write, the configuration where the
//! unit points, a reload that is the daemon's SIGHUP.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::{bin, text};

/// A unit file: section → key → every value given (a key may repeat).
type Unit = HashMap<String, HashMap<String, Vec<String>>>;

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(name)
}

/// Reads a unit file the way systemd does for what we use: `[Section]` lines,
/// `Key=Value` lines, `#` and `;` comments. Anything else is a malformed line.
fn parse_unit(text: &str) -> Result<Unit, String> {
    let mut unit = Unit::new();
    let mut section: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.ends_with('\\') {
            return Err(format!(
                "line {}: continuation lines are not expected here",
                n + 1
            ));
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_owned());
            unit.entry(name.to_owned()).or_default();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: not `Key=Value`: {line:?}", n + 1));
        };
        let Some(section) = &section else {
            return Err(format!("line {}: a setting before any [Section]", n + 1));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("line {}: bad key {key:?}", n + 1));
        }
        unit.get_mut(section)
            .unwrap()
            .entry(key.to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    Ok(unit)
}

fn shipped_unit() -> Unit {
    let path = contrib("kawaraban.service");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_unit(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one value of a key; a key set twice where it should not be is an error.
fn one<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    let values = unit
        .get(section)
        .and_then(|s| s.get(key))
        .unwrap_or_else(|| panic!("[{section}] {key}= is missing"));
    assert_eq!(values.len(), 1, "[{section}] {key}= is set {values:?}");
    &values[0]
}

/// ExecStart's `--config PATH` (before or after the subcommand).
fn config_arg(exec: &[&str]) -> PathBuf {
    let at = exec
        .iter()
        .position(|a| *a == "--config")
        .expect("ExecStart passes --config");
    PathBuf::from(exec.get(at + 1).expect("--config has a value"))
}

#[test]
fn the_parser_rejects_what_is_not_a_unit() {
    assert!(
        parse_unit("ExecStart=/bin/true\n").is_err(),
        "before a section"
    );
    assert!(parse_unit("[Service]\nExecStart /bin/true\n").is_err());
    assert!(parse_unit("[Service]\nExec Start=/bin/true\n").is_err());
    let ok = parse_unit("# c\n[Service]\nA=1\nA=2\n; c\n").unwrap();
    assert_eq!(ok["Service"]["A"], ["1", "2"]);
}

#[test]
fn the_unit_runs_the_daemon_with_its_configuration_directory() {
    let unit = shipped_unit();
    for section in ["Unit", "Service", "Install"] {
        assert!(unit.contains_key(section), "[{section}] is missing");
    }
    let exec: Vec<&str> = one(&unit, "Service", "ExecStart")
        .split_whitespace()
        .collect();
    assert!(
        exec[0].starts_with('/') && exec[0].ends_with("/kawaraban"),
        "ExecStart names the binary by absolute path: {exec:?}"
    );
    assert!(exec.contains(&"serve"), "{exec:?}");
    let config = config_arg(&exec);
    let conf_dir = one(&unit, "Service", "ConfigurationDirectory");
    assert_eq!(
        config.parent(),
        Some(Path::new("/etc").join(conf_dir).as_path()),
        "the configuration is in ConfigurationDirectory, which systemd creates and the daemon watches"
    );
    assert_eq!(config.file_name(), Some("feeds.toml".as_ref()));

    // The same arguments as the unit gives, with the shipped file, are accepted by the
    // binary (check-config in place of serve, which would start a daemon).
    let args: Vec<String> = exec[1..]
        .iter()
        .map(|a| match *a {
            "serve" => "check-config".to_owned(),
            a if Path::new(a) == config => contrib("feeds.toml").display().to_string(),
            a => a.to_owned(),
        })
        .collect();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kawaraban"))
        .args(&args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kawaraban {args:?}: {}",
        text(&out.stderr)
    );

    let reload = one(&unit, "Service", "ExecReload");
    assert!(
        reload.contains("kill") && reload.contains("-HUP") && reload.contains("$MAINPID"),
        "reload is the daemon's SIGHUP: {reload}"
    );
    assert_eq!(one(&unit, "Service", "Restart"), "on-failure");
    assert_eq!(
        one(&unit, "Service", "RestartPreventExitStatus"),
        "2",
        "a configuration error does not restart in a loop"
    );
    assert_eq!(one(&unit, "Install", "WantedBy"), "multi-user.target");
}

#[test]
fn the_unit_is_sandboxed_and_the_store_is_where_it_may_write() {
    let unit = shipped_unit();
    let yes = |key: &str| assert_eq!(one(&unit, "Service", key), "yes", "{key}=");
    for key in [
        "NoNewPrivileges",
        "ProtectHome",
        "PrivateTmp",
        "PrivateDevices",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "LockPersonality",
        "MemoryDenyWriteExecute",
        "RestrictNamespaces",
        "RestrictSUIDSGID",
    ] {
        yes(key);
    }
    assert_eq!(one(&unit, "Service", "ProtectSystem"), "strict");
    assert_eq!(one(&unit, "Service", "CapabilityBoundingSet"), "");
    // The fixed user the command line can become (see the unit's comment).
    assert_eq!(one(&unit, "Service", "User"), "kawaraban");
    assert!(
        unit["Service"]
            .get("DynamicUser")
            .is_none_or(|v| v == &["no"]),
        "DynamicUser would hide the store from the command line"
    );
    let families: Vec<&str> = one(&unit, "Service", "RestrictAddressFamilies")
        .split_whitespace()
        .collect();
    for needed in ["AF_INET", "AF_INET6", "AF_UNIX"] {
        assert!(families.contains(&needed), "{needed}: {families:?}");
    }
    let filters = &unit["Service"]["SystemCallFilter"];
    assert!(
        filters.iter().any(|f| f == "@system-service"),
        "{filters:?}"
    );

    // ProtectSystem=strict leaves only the state directory writable: the store, and
    // the admin socket beside it, must be inside.
    let state = Path::new("/var/lib").join(one(&unit, "Service", "StateDirectory"));
    let config = kawaraban::config::Config::load(&contrib("feeds.toml")).unwrap();
    assert!(
        config.store.path.starts_with(&state) && config.store.path != state,
        "[store] path {} is not under the StateDirectory {}",
        config.store.path.display(),
        state.display()
    );
    assert!(kawaraban::admin::socket_path(&config.store.path).starts_with(&state));
    assert!(
        !unit["Service"].contains_key("ReadWritePaths"),
        "the daemon writes nowhere but its state directory"
    );
    // No capability: the listen port must be one a plain user may bind.
    assert!(
        config.server.listen.port() >= 1024,
        "listen {} needs CAP_NET_BIND_SERVICE, which the unit does not grant",
        config.server.listen
    );
}

/// systemd's own check, where systemd is installed: unknown keys, bad values and
/// sections are errors there. The binary path is the one just built, so the check that
/// ExecStart exists passes on a machine where kawaraban is not installed.
#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    let probe = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("systemd-analyze is not installed: the unit is checked by the other tests only");
        return;
    }
    let unit = std::fs::read_to_string(contrib("kawaraban.service")).unwrap();
    let exec = one(&parse_unit(&unit).unwrap(), "Service", "ExecStart")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("kawaraban.service");
    std::fs::write(&copy, unit.replace(&exec, env!("CARGO_BIN_EXE_kawaraban"))).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(err.trim().is_empty(), "systemd-analyze verify warns: {err}");
}

#[tokio::test]
async fn version_names_the_commit() {
    let out = bin().arg("--version").output().await.unwrap();
    assert!(out.status.success());
    let line = text(&out.stdout);
    let version = format!("kawaraban {} (", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&version), "{line}");
    let commit = line
        .trim()
        .strip_prefix(&version)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    let hash = commit.strip_suffix("+changes").unwrap_or(commit);
    assert!(
        hash == "unknown" || (hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
    // In a git checkout it is this checkout's commit (build.rs reruns when HEAD moves).
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    if let Ok(head) = head
        && head.status.success()
    {
        assert_eq!(hash, text(&head.stdout).trim(), "{line}");
    }
}
