//! The merged Atom 1.0 feed.

use atom_syndication::{
    Category, Content, Entry, Feed, FixedDateTime, Generator, Link, Person, Source, Text,
};
use chrono::{DateTime, Utc};

use super::Post;
use crate::config::BlogConfig;

fn fixed(t: DateTime<Utc>) -> FixedDateTime {
    // Whole seconds: atom_syndication would otherwise write nanoseconds.
    DateTime::from_timestamp(t.timestamp(), 0)
        .unwrap_or_default()
        .fixed_offset()
}

fn link(href: &str, rel: &str, mime: Option<&str>) -> Link {
    Link {
        href: href.to_owned(),
        rel: rel.to_owned(),
        mime_type: mime.map(str::to_owned),
        ..Default::default()
    }
}

/// `path` is the feed's own path under the blog (its `rel="self"`), `title` its title.
pub fn render(
    blog: &BlogConfig,
    posts: &[Post],
    updated: DateTime<Utc>,
    path: &str,
    title: &str,
) -> Vec<u8> {
    let base = blog.base_url.0.as_str();
    let self_url = super::absolute(blog, path);
    let category_scheme = super::category_scheme(blog);
    let author = Person {
        name: blog.author.clone(),
        ..Default::default()
    };
    let entries = posts
        .iter()
        .map(|p| {
            let a = &p.article;
            Entry {
                title: Text::plain(a.title.clone()),
                id: p.id.clone(),
                updated: fixed(p.updated),
                published: Some(fixed(p.time)),
                categories: p
                    .category
                    .iter()
                    .map(|c| Category {
                        term: c.slug.clone(),
                        scheme: Some(category_scheme.clone()),
                        label: Some(c.name.clone()),
                    })
                    .collect(),
                authors: vec![author.clone()],
                links: vec![link(&p.link, "alternate", Some("text/html"))],
                content: Some(Content {
                    value: Some(p.content_html.clone()),
                    content_type: Some("html".into()),
                    ..Default::default()
                }),
                source: Some(Source {
                    title: Text::plain(a.publisher.clone()),
                    id: a.source_url.clone(),
                    links: vec![link(&a.source_url, "self", None)],
                    updated: fixed(a.updated),
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    let feed = Feed {
        title: Text::plain(title.to_owned()),
        subtitle: Some(Text::plain(blog.description.clone())).filter(|t| !t.value.is_empty()),
        id: self_url.clone(),
        updated: fixed(updated),
        authors: vec![author],
        links: std::iter::once(link(&self_url, "self", Some("application/atom+xml")))
            .chain(std::iter::once(link(base, "alternate", Some("text/html"))))
            .chain(blog.hub.iter().map(|h| link(h.0.as_str(), "hub", None)))
            .collect(),
        generator: Some(Generator {
            value: "kawaraban".into(),
            uri: Some(env!("CARGO_PKG_REPOSITORY").into()),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
        lang: Some(blog.language.clone()),
        entries,
        ..Default::default()
    };
    let mut out = Vec::with_capacity(4096 + posts.len() * 4096);
    // Writing into a Vec only fails on a bug in the writer; an empty feed is the
    // visible symptom then, and the log says why.
    if let Err(e) = feed.write_to(&mut out) {
        tracing::error!(error = %e, "rendering the Atom feed failed");
    }
    out
}
