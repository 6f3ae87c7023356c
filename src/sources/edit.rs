//! Editing `feeds.toml` in place: a source is added after the last `[[source]]` or
//! removed, and everything else (comments, blank lines, key order, quoting) stays as the
//! user wrote it. toml_edit keeps each table's formatting and the comments above it.

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

/// A source to add, with the few settings the command line can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource {
    pub name: String,
    pub url: String,
    /// Written as given (the config's duration format, checked when the edit is loaded).
    pub interval: Option<String>,
    pub selector: Vec<String>,
    pub tags: Vec<String>,
    /// With `links`: an index page instead of a feed (`url` is then the page).
    pub links: Option<String>,
}

impl NewSource {
    pub fn feed(name: impl Into<String>, url: impl Into<String>) -> NewSource {
        NewSource {
            name: name.into(),
            url: url.into(),
            interval: None,
            selector: Vec::new(),
            tags: Vec::new(),
            links: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("{0}")]
    Parse(#[from] toml_edit::TomlError),
    #[error(
        "`source` is not written as [[source]] tables; `sources add` and `remove` edit only [[source]] tables"
    )]
    NotTables,
    #[error("there is no source #{0} to remove")]
    NoSuch(usize),
}

/// `text` with `new` appended after the last `[[source]]`, in order.
pub fn add_sources(text: &str, new: &[NewSource]) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    if !doc.contains_key("source") {
        doc.insert("source", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let aot = doc
        .get_mut("source")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or(EditError::NotTables)?;
    for s in new {
        // No position: toml_edit then prints the table right after the one before it
        // in the array, which is the last source, not at the end of the file.
        aot.push(source_table(s));
    }
    Ok(doc.to_string())
}

fn source_table(s: &NewSource) -> Table {
    let mut t = Table::new();
    t.insert("name", value(s.name.as_str()));
    let url_key = if s.links.is_some() { "page" } else { "url" };
    t.insert(url_key, value(s.url.as_str()));
    if let Some(links) = &s.links {
        t.insert("links", value(links.as_str()));
    }
    if let Some(i) = &s.interval {
        t.insert("interval", value(i.as_str()));
    }
    if let Some(list) = string_list(&s.selector) {
        t.insert("selector", list);
    }
    if !s.tags.is_empty() {
        let tags: Array = s.tags.iter().map(String::as_str).collect();
        t.insert("tags", value(tags));
    }
    t
}

/// One string as a string, several as an array (the config reads both).
fn string_list(v: &[String]) -> Option<Item> {
    match v {
        [] => None,
        [one] => Some(value(one.as_str())),
        many => Some(value(many.iter().map(String::as_str).collect::<Array>())),
    }
}

/// `text` without its source number `index` (0-based, in file order, as
/// [`crate::config::Config::sources`] holds them). The comment lines directly above
/// the removed table go with it; comments separated from it by a blank line (a
/// heading over several sources) stay, above whatever follows.
pub fn remove_source(text: &str, index: usize) -> Result<String, EditError> {
    let mut doc: DocumentMut = text.parse()?;
    let aot = doc
        .get_mut("source")
        .and_then(Item::as_array_of_tables_mut)
        .ok_or(EditError::NotTables)?;
    let removed = aot.get(index).ok_or(EditError::NoSuch(index + 1))?;
    let position = removed.position();
    let prefix = removed
        .decor()
        .prefix()
        .and_then(|p| p.as_str())
        .unwrap_or("")
        .to_owned();
    aot.remove(index);
    let detached = detached_comments(&prefix);
    if detached.is_empty() {
        return Ok(doc.to_string());
    }
    let next = position.and_then(|p| next_position(doc.as_table(), p));
    let moved = match next {
        Some(next) => with_table_at(doc.as_table_mut(), next, &mut |t| {
            let old = t
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or("")
                .to_owned();
            let joined = format!("{detached}{}", strip_blank_lines(&old));
            t.decor_mut().set_prefix(joined);
        }),
        None => false,
    };
    if !moved {
        let old = doc.trailing().as_str().unwrap_or("").to_owned();
        doc.set_trailing(format!("{detached}{}", strip_blank_lines(&old)));
    }
    Ok(doc.to_string())
}

/// The lines of a table's prefix up to its last blank line, when they hold a comment:
/// what sits above the table but is set apart from it.
fn detached_comments(prefix: &str) -> &str {
    let mut end = 0;
    let mut at = 0;
    for line in prefix.split_inclusive('\n') {
        at += line.len();
        if line.trim().is_empty() && line.ends_with('\n') {
            end = at;
        }
    }
    let head = &prefix[..end];
    if head.lines().any(|l| l.trim_start().starts_with('#')) {
        head
    } else {
        ""
    }
}

fn strip_blank_lines(s: &str) -> &str {
    let mut at = 0;
    for line in s.split_inclusive('\n') {
        if !line.trim().is_empty() || !line.ends_with('\n') {
            break;
        }
        at += line.len();
    }
    &s[at..]
}

/// Every table with a header, depth first, as the document holds them.
fn for_each_table<'t>(t: &'t Table, f: &mut dyn FnMut(&'t Table)) {
    for (_, item) in t.iter() {
        match item {
            Item::Table(t) => {
                if !t.is_implicit() && !t.is_dotted() {
                    f(t);
                }
                for_each_table(t, f);
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter() {
                    f(t);
                    for_each_table(t, f);
                }
            }
            _ => {}
        }
    }
}

/// The position of the first table printed after `after`.
fn next_position(root: &Table, after: isize) -> Option<isize> {
    let mut best: Option<isize> = None;
    for_each_table(root, &mut |t| {
        if let Some(p) = t.position()
            && p > after
            && best.is_none_or(|b| p < b)
        {
            best = Some(p);
        }
    });
    best
}

/// Calls `f` on the table at `position`; false when there is none.
fn with_table_at(t: &mut Table, position: isize, f: &mut dyn FnMut(&mut Table)) -> bool {
    for (_, item) in t.iter_mut() {
        let tables: Vec<&mut Table> = match item {
            Item::Table(t) => vec![t],
            Item::ArrayOfTables(a) => a.iter_mut().collect(),
            _ => continue,
        };
        for t in tables {
            if t.position() == Some(position) && !t.is_implicit() && !t.is_dotted() {
                f(t);
                return true;
            }
            if with_table_at(t, position, f) {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# kawaraban configuration
# (hand-written; keep these comments)

[blog]
title   = "瓦版"      # aligned on purpose
base_url = 'http://127.0.0.1:8080/'

[fetch]
interval = "30m"

# ---- outlets ----

# the first outlet
[[source]]
name = "山手新報"
url  = "https://yamate.example/rss"   # RSS 1.0
interval = "1h"

[[source]]
name = "Harbor Times"
url = "https://harbor.example/atom.xml"
selector = ["div.story", "article"]

# Security
[[source]]
name="Sec Wire"
url="https://sec.example/feed"

# ---- what the blog keeps ----
[topic]
include = ["不正アクセス"]

[[category]]
name = "ニュース"
default = true
# end of file
"#;

    fn parses(text: &str) {
        crate::config::Config::parse(text, "edited.toml").unwrap();
    }

    #[test]
    fn add_puts_the_source_after_the_last_one_and_changes_nothing_else() {
        let mut s = NewSource::feed("東西日報", "https://tozai.example/index.rdf");
        s.interval = Some("2h".into());
        s.selector = vec!["div.body".into()];
        s.tags = vec!["News/Security".into(), "毎日".into()];
        let out = add_sources(FILE, &[s]).unwrap();
        let block = "\n[[source]]\nname = \"東西日報\"\nurl = \"https://tozai.example/index.rdf\"\ninterval = \"2h\"\nselector = \"div.body\"\ntags = [\"News/Security\", \"毎日\"]\n";
        let at = FILE.find("\n# ---- what the blog keeps").unwrap();
        let expected = format!("{}{block}{}", &FILE[..at], &FILE[at..]);
        assert_eq!(out, expected);
        parses(&out);
        let c = crate::config::Config::parse(&out, "t").unwrap();
        assert_eq!(c.sources.len(), 4);
        assert_eq!(c.sources[3].tags, ["News/Security", "毎日"]);
    }

    #[test]
    fn add_several_keeps_their_order_and_works_without_any_source() {
        let a = NewSource::feed("A", "https://a.example/feed");
        let b = NewSource::feed("B", "https://b.example/feed");
        let out = add_sources(FILE, &[a.clone(), b.clone()]).unwrap();
        let c = crate::config::Config::parse(&out, "t").unwrap();
        let names: Vec<&str> = c.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["山手新報", "Harbor Times", "Sec Wire", "A", "B"]);

        let bare = "# nothing yet\n[fetch]\ninterval = \"1h\" # hourly\n";
        let out = add_sources(bare, &[a]).unwrap();
        assert_eq!(
            out,
            "# nothing yet\n[fetch]\ninterval = \"1h\" # hourly\n\n[[source]]\nname = \"A\"\nurl = \"https://a.example/feed\"\n"
        );
        // No trailing newline in the original, and an empty file.
        let out = add_sources("[fetch]\ninterval = \"1h\"", std::slice::from_ref(&b)).unwrap();
        parses(&out);
        assert!(out.starts_with("[fetch]\ninterval = \"1h\"\n"), "{out}");
        let out = add_sources("", &[b]).unwrap();
        assert_eq!(
            out,
            "[[source]]\nname = \"B\"\nurl = \"https://b.example/feed\"\n"
        );
    }

    #[test]
    fn names_that_need_escaping_round_trip() {
        let s = NewSource::feed("Quote \"Q\" \\ Back", "https://q.example/feed?a=1&b=2");
        let out = add_sources("", &[s]).unwrap();
        let c = crate::config::Config::parse(&out, "t").unwrap();
        assert_eq!(c.sources[0].name, "Quote \"Q\" \\ Back");
        assert_eq!(
            c.sources[0].url.as_ref().unwrap().get_ref().0.as_str(),
            "https://q.example/feed?a=1&b=2"
        );
    }

    #[test]
    fn remove_takes_out_exactly_the_block() {
        // The middle source: no comments of its own.
        let out = remove_source(FILE, 1).unwrap();
        let block = "[[source]]\nname = \"Harbor Times\"\nurl = \"https://harbor.example/atom.xml\"\nselector = [\"div.story\", \"article\"]\n\n";
        assert_eq!(out, FILE.replacen(block, "", 1));
        parses(&out);

        // The last source takes its own comment line with it.
        let out = remove_source(FILE, 2).unwrap();
        let block =
            "# Security\n[[source]]\nname=\"Sec Wire\"\nurl=\"https://sec.example/feed\"\n\n";
        assert_eq!(out, FILE.replacen(block, "", 1));
        parses(&out);
    }

    #[test]
    fn remove_keeps_a_heading_set_apart_by_a_blank_line() {
        let out = remove_source(FILE, 0).unwrap();
        // "# the first outlet" goes; "# ---- outlets ----" now heads the next source.
        let expected = FILE.replacen(
            "# the first outlet\n[[source]]\nname = \"山手新報\"\nurl  = \"https://yamate.example/rss\"   # RSS 1.0\ninterval = \"1h\"\n\n",
            "",
            1,
        );
        assert_eq!(out, expected);
        let c = crate::config::Config::parse(&out, "t").unwrap();
        assert_eq!(c.sources.len(), 2);

        // The only source, with a heading and the end of the file after it.
        let text = "[fetch]\ninterval = \"1h\"\n\n# feeds\n\n[[source]]\nname = \"A\"\nurl = \"https://a.example/\"\n# trailing note\n";
        let out = remove_source(text, 0).unwrap();
        assert_eq!(
            out,
            "[fetch]\ninterval = \"1h\"\n\n# feeds\n\n# trailing note\n"
        );
    }

    #[test]
    fn remove_refuses_what_is_not_there() {
        assert!(matches!(remove_source(FILE, 3), Err(EditError::NoSuch(4))));
        assert!(matches!(
            remove_source(
                "source = [{name = \"A\", url = \"https://a.example/\"}]\n",
                0
            ),
            Err(EditError::NotTables)
        ));
        assert!(matches!(
            add_sources("source = 3\n", &[NewSource::feed("A", "https://a/")]),
            Err(EditError::NotTables)
        ));
    }
}
