//! Managing sources from the command line: `kawaraban sources list|add|remove|check`
//! and `kawaraban opml export|import`. Adding and removing edit `feeds.toml` in place
//! ([`edit`]); the edited text must load like the daemon loads it at start, and the
//! file is replaced in one rename, so a failed edit leaves it untouched.

pub mod check;
pub mod edit;
pub mod opml;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::Context;
use url::Url;

use crate::config::{Config, SourceConfig};
use edit::NewSource;

/// A request the user can fix: a name or URL that matches no source or several, a
/// duplicate URL, a bad value. The command line exits 2 on it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The URL a source is known by, as the store keys its state.
pub fn source_url(s: &SourceConfig) -> Option<&Url> {
    s.id_url().map(|u| &u.get_ref().0)
}

/// Parses an absolute http(s) URL as the configuration does.
pub fn parse_http_url(s: &str) -> Option<Url> {
    Url::parse(s.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// What a URL-or-NAME argument names.
#[derive(Debug)]
pub enum Found {
    /// The index of the source in the configuration.
    One(usize),
    /// A name several sources share: their URLs.
    Several(Vec<String>),
    None,
}

/// The source `what` names: its URL (feed or index page), else its name.
pub fn find(config: &Config, what: &str) -> Found {
    if let Some(url) = parse_http_url(what)
        && let Some(i) = config
            .sources
            .iter()
            .position(|s| source_url(s) == Some(&url))
    {
        return Found::One(i);
    }
    let named: Vec<usize> = (0..config.sources.len())
        .filter(|&i| config.sources[i].name.trim() == what.trim())
        .collect();
    match named.as_slice() {
        [] => Found::None,
        [i] => Found::One(*i),
        many => Found::Several(
            many.iter()
                .filter_map(|&i| source_url(&config.sources[i]).map(Url::to_string))
                .collect(),
        ),
    }
}

/// Like [`find`], with the refusals worded for the user.
pub fn find_one(config: &Config, what: &str) -> anyhow::Result<usize> {
    match find(config, what) {
        Found::One(i) => Ok(i),
        other => Err(refusal(what, other)),
    }
}

/// Why `what` does not name one source.
pub fn refusal(what: &str, found: Found) -> anyhow::Error {
    match found {
        Found::Several(urls) => usage(format!(
            "{} sources are named {what:?}; give the URL of the one you mean:\n  {}",
            urls.len(),
            urls.join("\n  ")
        )),
        Found::None => usage(format!(
            "no source has the URL or name {what:?} (`kawaraban sources list` shows them)"
        )),
        Found::One(i) => usage(format!("{what:?} names source #{}", i + 1)),
    }
}

/// Reads and checks the configuration file that is about to be edited: an edit starts
/// from a file that loads.
pub fn read_config(path: &Path) -> anyhow::Result<(String, Config)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read the configuration", path.display()))?;
    let mut config = Config::parse(&text, &path.display().to_string()).map_err(|e| {
        usage(format!(
            "{e}\n(fix the configuration first: it is edited only when it loads)"
        ))
    })?;
    config.dir = path.parent().map(Path::to_owned).unwrap_or_default();
    Ok((text, config))
}

/// Checks `edited` as start-up would, then replaces the file with it.
fn save(path: &Path, edited: &str) -> anyhow::Result<Config> {
    let config = Config::parse(edited, &path.display().to_string()).map_err(|e| {
        usage(format!(
            "the edited configuration would not load, so {} was not changed: {e}",
            path.display()
        ))
    })?;
    write_atomic(path, edited)?;
    Ok(config)
}

/// Writes `text` beside `path` and renames it over `path`: a reader (or a crash) sees
/// the old file or the new one, never half of one. A symbolic link is followed, so the
/// file it points to is replaced and the link stays.
pub fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_owned);
    let file_name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "feeds.toml".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Ok(meta) = std::fs::metadata(&target) {
            use std::os::unix::fs::MetadataExt;
            // Root editing a service's file (root:kawaraban 0640) must not leave it
            // root:root, unreadable to the daemon. Anyone else may only give files
            // away to themselves: EPERM then leaves the file theirs, as before.
            match std::os::unix::fs::fchown(&f, Some(meta.uid()), Some(meta.gid())) {
                Err(e) if e.kind() != std::io::ErrorKind::PermissionDenied => return Err(e),
                _ => {}
            }
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", target.display()));
    }
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// `kawaraban sources add`: refuses a URL that is already a source.
pub fn add(path: &Path, new: NewSource) -> anyhow::Result<()> {
    let (text, config) = read_config(path)?;
    if new.name.trim().is_empty() {
        return Err(usage(
            "the name is empty: give the publisher name shown in attributions",
        ));
    }
    let url = parse_http_url(&new.url)
        .ok_or_else(|| usage(format!("{:?} is not an absolute http(s) URL", new.url)))?;
    if let Some(i) = config
        .sources
        .iter()
        .position(|s| source_url(s) == Some(&url))
    {
        return Err(usage(format!(
            "{url} is already the URL of source {:?}; each source needs its own URL",
            config.sources[i].name
        )));
    }
    if let Some(i) = &new.interval {
        humantime::parse_duration(i.trim()).map_err(|e| {
            usage(format!(
                "--interval {i:?}: expected a duration like \"30m\" or \"2h\" ({e})"
            ))
        })?;
    }
    if let Some(bad) = new
        .tags
        .iter()
        .find_map(|t| crate::config::check_tag(t).err())
    {
        return Err(usage(format!("--tag: {bad}")));
    }
    let new = NewSource {
        url: url.to_string(),
        ..new
    };
    let edited = edit::add_sources(&text, std::slice::from_ref(&new))
        .map_err(|e| usage(format!("{}: {e}", path.display())))?;
    save(path, &edited)?;
    Ok(())
}

/// `kawaraban sources remove`: returns the removed source's name and URL.
pub fn remove(path: &Path, what: &str) -> anyhow::Result<(String, String)> {
    let (text, config) = read_config(path)?;
    let i = find_one(&config, what)?;
    let s = &config.sources[i];
    let url = source_url(s).map(Url::to_string).unwrap_or_default();
    let edited =
        edit::remove_source(&text, i).map_err(|e| usage(format!("{}: {e}", path.display())))?;
    save(path, &edited)?;
    Ok((s.name.clone(), url))
}

/// What an OPML import did, feed by feed.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub added: Vec<opml::Feed>,
    /// Feeds whose URL is already a source (or came earlier in the file), with the
    /// name of that source.
    pub duplicates: Vec<(opml::Feed, String)>,
    pub invalid: Vec<opml::Invalid>,
}

/// `kawaraban opml import`: adds every feed of the file whose URL is not a source yet,
/// with default settings and the file's folders as tags. A feed listed in several
/// folders is added once, with every folder as a tag. With `dry_run` nothing is written.
pub fn import_opml(path: &Path, opml_bytes: &[u8], dry_run: bool) -> anyhow::Result<ImportReport> {
    let (text, config) = read_config(path)?;
    let parsed = opml::parse(opml_bytes).map_err(|e| usage(e.to_string()))?;
    let mut report = ImportReport {
        invalid: parsed.invalid,
        ..ImportReport::default()
    };
    for feed in parsed.feeds {
        if let Some(s) = config
            .sources
            .iter()
            .find(|s| source_url(s) == Some(&feed.url))
        {
            let name = s.name.clone();
            report.duplicates.push((feed, name));
        } else if let Some(first) = report.added.iter_mut().find(|a| a.url == feed.url) {
            for t in &feed.tags {
                if !first.tags.contains(t) {
                    first.tags.push(t.clone());
                }
            }
            let name = first.name.clone();
            report.duplicates.push((feed, name));
        } else {
            report.added.push(feed);
        }
    }
    if !report.added.is_empty() && !dry_run {
        let new: Vec<NewSource> = report.added.iter().map(opml::Feed::to_source).collect();
        let edited = edit::add_sources(&text, &new)
            .map_err(|e| usage(format!("{}: {e}", path.display())))?;
        save(path, &edited)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_file_is_replaced_whole_through_a_symlink_keeping_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "old\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("feeds.toml");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, "new\n").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new\n");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // No temporary file is left beside it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn the_file_keeps_its_owner_when_root_replaces_it() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        std::fs::write(&path, "old\n").unwrap();
        if std::fs::metadata(&path).unwrap().uid() != 0 {
            eprintln!("not root: files cannot be given to another owner here");
            return;
        }
        // As a service's configuration: root's file, readable by the service's group.
        std::os::unix::fs::chown(&path, Some(0), Some(65534)).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, "new\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (0, 65534));
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        // And a file owned by someone else stays theirs.
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        write_atomic(&path, "newer\n").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    }

    #[test]
    fn an_edit_that_would_not_load_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feeds.toml");
        let text = "# keep\n[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\n";
        std::fs::write(&path, text).unwrap();
        // A selector the configuration refuses: caught when the edit is loaded.
        let mut new = NewSource::feed("B", "https://b.example/");
        new.selector = vec!["div[".into()];
        let e = add(&path, new).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().contains("would not load"), "{e}");
        assert!(e.to_string().contains("not a valid CSS selector"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // A file that does not load is not edited.
        std::fs::write(&path, "[fetch]\nintervall = 1\n").unwrap();
        let e = add(&path, NewSource::feed("B", "https://b.example/")).unwrap_err();
        assert!(e.to_string().contains("fix the configuration first"), "{e}");
    }
}
