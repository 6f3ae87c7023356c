//! The merged RSS 2.0 feed.

use chrono::{DateTime, Utc};
use rss::extension::atom::{AtomExtension, Link as AtomLink};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Channel, Guid, Item, Source};

use super::Post;
use crate::config::BlogConfig;

/// `path` is the feed's own path under the blog, `title` its title.
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
    let items = posts
        .iter()
        .map(|p| {
            let a = &p.article;
            Item {
                title: Some(a.title.clone()),
                link: Some(p.link.clone()),
                description: Some(p.content_html.clone()),
                guid: Some(Guid {
                    value: p.id.clone(),
                    permalink: false,
                }),
                pub_date: Some(p.time.to_rfc2822()),
                categories: p
                    .category
                    .iter()
                    .map(|c| rss::Category {
                        name: c.name.clone(),
                        domain: Some(category_scheme.clone()),
                    })
                    .collect(),
                source: Some(Source {
                    url: a.source_url.clone(),
                    title: Some(a.publisher.clone()),
                }),
                dublin_core_ext: Some(DublinCoreExtension {
                    creators: vec![blog.author.clone()],
                    publishers: vec![a.publisher.clone()],
                    ..Default::default()
                }),
                ..Default::default()
            }
        })
        .collect();
    let mut channel = Channel {
        title: title.to_owned(),
        link: base.to_owned(),
        description: blog.description.clone(),
        language: Some(blog.language.clone()),
        last_build_date: Some(updated.to_rfc2822()),
        generator: Some(format!("kawaraban {}", env!("CARGO_PKG_VERSION"))),
        items,
        atom_ext: Some(AtomExtension {
            links: std::iter::once(AtomLink {
                href: self_url,
                rel: "self".into(),
                mime_type: Some("application/rss+xml".into()),
                ..Default::default()
            })
            .chain(blog.hub.iter().map(|h| AtomLink {
                href: h.0.to_string(),
                rel: "hub".into(),
                ..Default::default()
            }))
            .collect(),
        }),
        ..Default::default()
    };
    channel
        .namespaces
        .insert("dc".into(), "http://purl.org/dc/elements/1.1/".into());
    let mut out = Vec::with_capacity(4096 + posts.len() * 4096);
    if let Err(e) = channel.write_to(&mut out) {
        tracing::error!(error = %e, "rendering the RSS feed failed");
    }
    out
}
