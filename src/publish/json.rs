//! JSON Feed 1.1 (https://jsonfeed.org/version/1.1).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Post, absolute, rfc3339};
use crate::config::BlogConfig;

/// `path` is the feed's own path under the blog, `title` its title.
pub fn render(
    blog: &BlogConfig,
    posts: &[Post],
    _updated: DateTime<Utc>,
    path: &str,
    title: &str,
) -> Vec<u8> {
    let author = json!({ "name": blog.author });
    let items: Vec<Value> = posts
        .iter()
        .map(|p| {
            let mut item = json!({
                "id": p.id,
                "url": p.link,
                "title": p.article.title,
                "content_html": p.content_html,
                "date_published": rfc3339(p.time),
                "date_modified": rfc3339(p.updated),
                "authors": [author.clone()],
                "_kawaraban": {
                    "publisher": p.article.publisher,
                    "source": p.article.source_url,
                    "also_reported_by": p.also.iter().map(|a| json!({
                        "publisher": a.publisher,
                        "url": a.link,
                    })).collect::<Vec<_>>(),
                },
            });
            if let Some(c) = &p.category {
                item["tags"] = json!([c.name]);
            }
            item
        })
        .collect();
    let mut feed = json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": blog.base_url.0.as_str(),
        "feed_url": absolute(blog, path),
        "description": blog.description,
        "language": blog.language,
        "authors": [author],
        "items": items,
    });
    if let Some(hub) = &blog.hub {
        feed["hubs"] = json!([{ "type": "WebSub", "url": hub.0.as_str() }]);
    }
    serde_json::to_vec_pretty(&feed).unwrap_or_default()
}
