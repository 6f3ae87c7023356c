//! Retention: the store keeps what `[store] keep_days` and `keep_max` allow, and a
//! tombstone for each key it let go, so a feed that still lists a pruned article does
//! not bring it back as new. The dedup index keeps only the articles first seen within
//! `[store] dedup_window`.
//!
//! Pruning runs in small batches, each one transaction taking its turn with the other
//! writes, so ingest and serving go on between batches.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::{ARTICLE_COUNT, POST_COUNT, Store, StoreError, add_count, decode, dedup_key, time_key};
use crate::article::Article;
use crate::judge::dedup::{self, Fingerprint};

/// What to keep. `None` keeps everything on that count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub keep_days: Option<u32>,
    pub keep_max: Option<usize>,
}

/// How long a tombstone outlives its article: long past the time any feed still lists
/// an item, short enough that tombstones do not pile up for ever.
pub const TOMBSTONE_DAYS: i64 = 400;

/// When a tombstone's article was pruned (seconds since 1970), from its stored value.
pub(super) fn pruned_at(stamp: &[u8]) -> Option<i64> {
    <[u8; 8]>::try_from(stamp).ok().map(i64::from_be_bytes)
}

/// Articles pruned per transaction.
const BATCH: usize = 200;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pruned {
    pub articles: usize,
    pub tombstones_expired: usize,
    /// Articles whose dedup index entries went: first seen before the dedup window.
    pub dedup_expired: usize,
}

impl Store {
    /// Whether `key` belonged to an article that retention removed.
    pub fn is_pruned(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.inner.tombstones.contains_key(key.as_bytes())?)
    }

    /// Prunes everything `policy` no longer keeps, batch by batch, expires old
    /// tombstones, and drops the dedup entries of articles first seen before the dedup
    /// window. Blocking: the daemon runs it on the blocking pool.
    pub fn prune(&self, policy: Policy, now: DateTime<Utc>) -> Result<Pruned, StoreError> {
        let mut out = Pruned::default();
        if policy != Policy::default() {
            loop {
                let n = self.prune_batch(policy, now)?;
                out.articles += n;
                if n == 0 {
                    break;
                }
            }
        }
        out.tombstones_expired = self.expire_tombstones(now)?;
        loop {
            let n = self.expire_dedup_batch(now)?;
            out.dedup_expired += n;
            if n == 0 {
                break;
            }
        }
        Ok(out)
    }

    /// Drops the dedup entries of up to one batch of the articles first seen before the
    /// dedup window; returns how many. The fingerprints are keyed by first-seen time, so
    /// these are the tree's first keys, and each one's fingerprint names its index keys:
    /// no article is read (sled would keep every page it read resident).
    fn expire_dedup_batch(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let i = &self.inner;
        let since = time_key(self.dedup_since(now), "");
        let expired: Vec<sled::IVec> = i
            .fingerprints
            .range(..since)
            .keys()
            .take(BATCH)
            .collect::<Result<_, _>>()?;
        if expired.is_empty() {
            return Ok(0);
        }
        let _turn = self.turn();
        let result = (&i.dedup, &i.fingerprints).transaction(|(dedup_tree, fingerprints)| {
            for when in &expired {
                // Read again here: judging may have replaced it since.
                if let Some(fp) = fingerprints.remove(when)?
                    && let Some(fp) = Fingerprint::from_bytes(&fp)
                {
                    for k in dedup::index_keys(&fp) {
                        dedup_tree.remove(dedup_key(k, when))?;
                    }
                }
            }
            Ok::<_, ConflictableTransactionError<String>>(())
        });
        result.map_err(|e| match e {
            TransactionError::Abort(msg) => StoreError::Corrupt(msg),
            TransactionError::Storage(e) => StoreError::Io(e),
        })?;
        Ok(expired.len())
    }

    /// Removes up to one batch of the oldest articles past the policy; returns how many.
    ///
    /// A folded story goes as a whole, decided on its post: the articles folded into a
    /// post are pruned with it (when the newest of them is also past `keep_days`), never
    /// before it, so a kept post never lists an outlet whose article is gone.
    fn prune_batch(&self, policy: Policy, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let i = &self.inner;
        let cutoff = policy
            .keep_days
            .map(|d| now - chrono::Duration::days(i64::from(d)));
        let mut over = policy
            .keep_max
            .map_or(0, |max| i.articles.len().saturating_sub(max));
        let mut chosen: Vec<Article> = Vec::new();
        let mut seen = BTreeSet::new();
        for item in i.by_time.iter() {
            if chosen.len() >= BATCH {
                break;
            }
            let (_, id) = item?;
            let Some(bytes) = i.articles.get(&id)? else {
                continue;
            };
            let a: Article = decode(&bytes)?;
            let expired = cutoff.is_some_and(|c| a.post_time() < c);
            if !expired && over == 0 {
                // The time index is oldest first: nothing later is due either.
                break;
            }
            if seen.contains(&a.id) {
                continue;
            }
            let judgement = a.judgement.as_ref();
            // The editor pinned it to the front page: it stays while pinned.
            if judgement.is_some_and(|j| j.editor.pinned.is_some()) {
                continue;
            }
            // A folded article goes with its post, unless the post is gone.
            if let Some(root) = judgement.and_then(|j| j.duplicate_of.as_deref())
                && i.articles.contains_key(root.as_bytes())?
            {
                continue;
            }
            let mut group = vec![a.clone()];
            for member in judgement.map(|j| j.folded.as_slice()).unwrap_or_default() {
                if let Some(b) = i.articles.get(member.as_bytes())? {
                    group.push(decode(&b)?);
                }
            }
            let group_expired = cutoff.is_some_and(|c| group.iter().all(|m| m.post_time() < c));
            if !group_expired && over == 0 {
                continue;
            }
            over = over.saturating_sub(group.len());
            for m in group {
                if seen.insert(m.id.clone()) {
                    chosen.push(m);
                }
            }
        }
        if chosen.is_empty() {
            return Ok(0);
        }
        let stamp = now.timestamp().to_be_bytes();
        let _turn = self.turn();
        let result = (
            &i.articles,
            &i.by_time,
            &i.by_key,
            &i.posts,
            &i.dedup,
            &i.fingerprints,
            &i.pending,
            &i.tombstones,
            &i.pins,
            &i.manual,
            &i.meta,
        )
            .transaction(
                |(
                    articles,
                    by_time,
                    by_key,
                    posts,
                    dedup_tree,
                    fingerprints,
                    pending,
                    tombs,
                    pins,
                    manual,
                    meta,
                )| {
                    let (mut removed, mut posts_removed) = (0, 0);
                    for a in &chosen {
                        let id = a.id.as_bytes();
                        if articles.remove(id)?.is_some() {
                            removed += 1;
                        }
                        pending.remove(id)?;
                        manual.remove(id)?;
                        by_time.remove(time_key(a.post_time(), &a.id))?;
                        if a.judgement.as_ref().is_some_and(|j| j.is_post())
                            && posts.remove(time_key(a.story_time(), &a.id))?.is_some()
                        {
                            posts_removed += 1;
                        }
                        if let Some(t) = a.judgement.as_ref().and_then(|j| j.editor.pinned) {
                            pins.remove(time_key(t, &a.id))?;
                        }
                        for k in std::iter::once(&a.key).chain(&a.aliases) {
                            if by_key.get(k.as_bytes())?.is_some_and(|v| v.as_ref() == id) {
                                by_key.remove(k.as_bytes())?;
                            }
                            tombs.insert(k.as_bytes(), &stamp)?;
                        }
                        let when = time_key(a.first_seen, &a.id);
                        if let Some(fp) = fingerprints.remove(when.as_slice())?
                            && let Some(fp) = Fingerprint::from_bytes(&fp)
                        {
                            for k in dedup::index_keys(&fp) {
                                dedup_tree.remove(dedup_key(k, &when))?;
                            }
                        }
                    }
                    add_count(meta, ARTICLE_COUNT, -removed)?;
                    add_count(meta, POST_COUNT, -posts_removed)?;
                    Ok::<_, ConflictableTransactionError<String>>(())
                },
            );
        result.map_err(|e| match e {
            TransactionError::Abort(msg) => StoreError::Corrupt(msg),
            TransactionError::Storage(e) => StoreError::Io(e),
        })?;
        i.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Ok(chosen.len())
    }

    fn expire_tombstones(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let limit = (now - chrono::Duration::days(TOMBSTONE_DAYS)).timestamp();
        let mut expired = Vec::new();
        for item in self.inner.tombstones.iter() {
            let (k, v) = item?;
            // An unreadable stamp is treated as old: a tombstone is only a hint.
            if pruned_at(&v).is_none_or(|t| t < limit) {
                expired.push(k);
            }
        }
        let _turn = self.turn();
        for k in &expired {
            self.inner.tombstones.remove(k)?;
        }
        Ok(expired.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Judge, judge_pending};
    use crate::store::tests::{article, exported, trees};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// Five articles a day apart (2026-01-01 … 01-05), judged; the two of 01-02 and
    /// 01-03 are one story from two outlets, folded into the first stored.
    fn stocked() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        let story = "大阪府の市立病院は3日、ランサムウェアによるサイバー攻撃を受け、電子カルテのシステムが停止したと発表した。\
            復旧には少なくとも二週間かかる見通しで、救急患者の受け入れと外来の新規受け付けを止めている。\
            病院によると、2日未明に院内のサーバー28台で暗号化が確認され、画面には身代金を要求する英文が表示された。\
            病院は警察に被害を届け出るとともに、厚生労働省に報告した。患者約5万人分の個人情報が流出した可能性もあるという。";
        for (n, key, text) in [
            (
                1,
                "https://a.example/1",
                "一つ目の話。市の窓口システムが止まった。",
            ),
            (2, "https://a.example/2", story),
            (3, "https://b.example/2", story),
            (
                4,
                "https://a.example/4",
                "四つ目の話。大学の名簿が流出した。",
            ),
            (
                5,
                "https://a.example/5",
                "五つ目の話。通販サイトでカード情報が漏れた。",
            ),
        ] {
            let mut a = article(
                key,
                &format!("記事{n}"),
                Some(&format!("2026-01-0{n}T00:00:00Z")),
            );
            a.content_text = text.into();
            a.aliases = vec![format!("{key}?amp=1")];
            a.first_seen = at(&format!("2026-01-0{n}T01:00:00Z"));
            store.upsert(a.clone(), a.first_seen).unwrap();
        }
        judge_pending(&store, &Judge::permissive()).unwrap();
        (dir, store)
    }

    fn keys(store: &Store) -> Vec<String> {
        let mut k: Vec<String> = store.all_articles().map(|a| a.unwrap().key).collect();
        k.sort();
        k
    }

    #[test]
    fn old_articles_go_with_their_index_entries_and_leave_tombstones() {
        let (_dir, store) = stocked();
        let folded = store.find("https://b.example/2").unwrap().unwrap();
        assert!(
            folded.judgement.as_ref().unwrap().duplicate_of.is_some(),
            "the fixture folds the two outlets' story"
        );
        let policy = Policy {
            keep_days: Some(10),
            keep_max: None,
        };
        // 2026-01-14: only the articles of 01-01 … 01-03 are over ten days old.
        let pruned = store.prune(policy, at("2026-01-14T00:00:00Z")).unwrap();
        assert_eq!(pruned.articles, 3);
        assert_eq!(keys(&store), ["https://a.example/4", "https://a.example/5"]);
        for k in [
            "https://a.example/1",
            "https://a.example/2?amp=1",
            "https://b.example/2",
        ] {
            assert!(store.is_pruned(k).unwrap(), "{k}");
            assert_eq!(store.id_for_key(k).unwrap(), None, "{k}");
        }
        assert!(!store.is_pruned("https://a.example/4").unwrap());
        // No index entry outlives its article.
        let t = trees(&store);
        let ids: Vec<Vec<u8>> = store
            .all_articles()
            .map(|a| a.unwrap().id.into_bytes())
            .collect();
        for (n, tree) in [(1, "by_time"), (2, "by_key"), (4, "posts")] {
            for (_, v) in &t[n] {
                let id = v.split(|b| *b == 0).next().unwrap();
                assert!(
                    ids.contains(&id.to_vec()),
                    "{tree} points at a pruned article"
                );
            }
        }
        assert_eq!(t[6].len(), 2, "fingerprints of the two kept articles only");
        assert_eq!(t[7].len(), 0, "nothing pending");
        let stats = store.stats().unwrap();
        assert_eq!(
            (
                stats.articles,
                stats.posts,
                stats.not_posts,
                stats.tombstones
            ),
            (2, 2, 0, 6)
        );
        assert_eq!(stats.oldest, Some(at("2026-01-04T00:00:00Z")));
        assert_eq!(stats.newest, Some(at("2026-01-05T00:00:00Z")));
        // Tombstones go once they are old enough to matter no more.
        let later = at("2026-01-14T00:00:00Z") + chrono::Duration::days(TOMBSTONE_DAYS + 1);
        let expired = store.prune(Policy::default(), later).unwrap();
        assert_eq!(expired.tombstones_expired, 6);
        assert!(!store.is_pruned("https://a.example/1").unwrap());
        store.assert_counts();
    }

    #[test]
    fn keep_max_prunes_the_oldest_and_a_folded_story_goes_whole() {
        let (_dir, store) = stocked();
        let policy = Policy {
            keep_days: None,
            keep_max: Some(3),
        };
        let pruned = store.prune(policy, at("2026-01-06T00:00:00Z")).unwrap();
        // The oldest goes, then the story of 01-02: its folded copy of 01-03 with it.
        assert_eq!(pruned.articles, 3);
        assert_eq!(keys(&store), ["https://a.example/4", "https://a.example/5"]);
        // Within the limit: nothing more.
        let again = store.prune(policy, at("2026-01-06T00:00:00Z")).unwrap();
        assert_eq!(again.articles, 0);
        store.assert_counts();
    }

    #[test]
    fn a_story_with_a_recent_outlet_is_kept() {
        let (_dir, store) = stocked();
        // On 01-12, ten days keep 01-02 onwards… and the 01-03 copy keeps its story.
        let policy = Policy {
            keep_days: Some(9),
            keep_max: None,
        };
        let pruned = store.prune(policy, at("2026-01-11T12:00:00Z")).unwrap();
        assert_eq!(pruned.articles, 1, "only 01-01");
        assert!(store.find("https://a.example/2").unwrap().is_some());
        assert!(store.find("https://b.example/2").unwrap().is_some());
    }

    const SHOP: &str = "東京都内の通販会社「みなと商会」は30日、同社の通販サイトが外部から不正アクセスを受け、顧客のクレジットカード情報最大2万4千件が流出した可能性があると発表した。\
        同社によると、決済画面のプログラムが改ざんされ、昨年11月から今年3月までに入力されたカード番号や有効期限、セキュリティーコードが外部に送信されていたという。\
        カード会社からの連絡で発覚した。すでに一部のカードで不正利用の被害が確認されており、同社は警視庁に相談している。";
    const HOSPITAL: &str = "大阪府の市立病院は3日、ランサムウェアによるサイバー攻撃を受け、電子カルテのシステムが停止したと発表した。\
        復旧には少なくとも二週間かかる見通しで、救急患者の受け入れと外来の新規受け付けを止めている。\
        病院によると、2日未明に院内のサーバー28台で暗号化が確認され、画面には身代金を要求する英文が表示された。";

    /// Stores an article first seen at `seen` with `text`, and judges it.
    fn arrive(store: &Store, key: &str, text: &str, seen: DateTime<Utc>) -> Article {
        let mut a = article(key, key, None);
        a.content_text = text.into();
        a.first_seen = seen;
        let (_, a) = store.upsert(a, seen).unwrap();
        judge_pending(store, &Judge::permissive()).unwrap();
        store.get(&a.id).unwrap().unwrap()
    }

    fn folded_into(a: &Article) -> Option<&str> {
        a.judgement.as_ref().unwrap().duplicate_of.as_deref()
    }

    /// The ids the dedup index and the fingerprints name, each sorted.
    fn dedup_ids(store: &Store) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let t = trees(store);
        let ids = |n: usize, from: usize| {
            let mut v: Vec<Vec<u8>> = t[n].iter().map(|(k, _)| k[from..].to_vec()).collect();
            v.sort();
            v.dedup();
            v
        };
        (ids(5, 16), ids(6, 8))
    }

    #[test]
    fn the_dedup_index_keeps_the_window_and_still_folds_within_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        let now = at("2026-03-01T00:00:00Z");
        let day = chrono::Duration::days(1);
        let old = arrive(&store, "https://a.example/old", SHOP, now - day * 40);
        let recent = arrive(&store, "https://a.example/recent", HOSPITAL, now - day * 2);
        assert_eq!(folded_into(&recent), None);

        // Before any trim, the old article is a candidate only for what arrived near it.
        let keys = dedup::index_keys(&dedup::fingerprint(&crate::judge::judged_text(&old)));
        let candidates = |seen| -> Vec<String> {
            crate::judge::Lookup::candidates(&store, &keys, seen)
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect()
        };
        assert_eq!(candidates(now - day * 39), std::slice::from_ref(&old.id));
        assert!(candidates(now).is_empty());

        // Another outlet runs both stories now: the recent one folds, the old one not.
        let again_old = arrive(&store, "https://b.example/old", SHOP, now);
        let again_recent = arrive(&store, "https://b.example/recent", HOSPITAL, now);
        assert_eq!(folded_into(&again_old), None, "outside the window");
        assert_eq!(folded_into(&again_recent), Some(recent.id.as_str()));

        // The trim drops the old article's entries, and nothing else.
        let id = |a: &Article| a.id.as_bytes().to_vec();
        let (indexed, fingerprinted) = dedup_ids(&store);
        assert!(indexed.contains(&id(&old)) && fingerprinted.contains(&id(&old)));
        let pruned = store.prune(Policy::default(), now).unwrap();
        assert_eq!((pruned.dedup_expired, pruned.articles), (1, 0));
        let mut kept = vec![id(&recent), id(&again_old), id(&again_recent)];
        kept.sort();
        assert_eq!(dedup_ids(&store), (kept.clone(), kept));
        let entries: usize = [&recent, &again_old, &again_recent]
            .iter()
            .map(|a| dedup::index_keys(&dedup::fingerprint(&crate::judge::judged_text(a))).len())
            .sum();
        assert_eq!(trees(&store)[5].len(), entries);
        assert_eq!(
            store.prune(Policy::default(), now).unwrap().dedup_expired,
            0
        );
        // The old article itself stays, a post as before.
        let old_now = store.get(&old.id).unwrap().unwrap();
        assert!(old_now.judgement.as_ref().unwrap().is_post());

        // After the trim a third outlet's copy still folds into the recent story.
        let third = arrive(&store, "https://c.example/recent", HOSPITAL, now + day);
        assert_eq!(folded_into(&third), Some(recent.id.as_str()));
        // And a day later the trim has not touched it: two days old is in the window.
        store.prune(Policy::default(), now + day).unwrap();
        assert!(dedup_ids(&store).1.contains(&id(&recent)));
        store.assert_counts();
    }

    #[test]
    fn an_import_indexes_only_the_dedup_window() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db"), 1 << 20).unwrap();
        // Import measures the window from the clock, so these are dated from it.
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        let old = arrive(&store, "https://a.example/old", SHOP, now - day * 40);
        let recent = arrive(&store, "https://a.example/recent", HOSPITAL, now - day);
        let first = exported(&store);

        let copy = Store::open(&dir.path().join("copy"), 1 << 20).unwrap();
        copy.import(first.as_bytes(), false).unwrap();
        let id = |a: &Article| vec![a.id.as_bytes().to_vec()];
        assert_eq!(dedup_ids(&copy), (id(&recent), id(&recent)));
        assert_eq!(exported(&copy), first, "the round trip is unchanged");
        // What the original holds once retention has run.
        assert!(dedup_ids(&store).1.contains(&old.id.as_bytes().to_vec()));
        store.prune(Policy::default(), now).unwrap();
        assert_eq!(trees(&copy), trees(&store));
    }

    #[test]
    fn an_older_stores_fingerprints_are_rekeyed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let now = at("2026-03-01T00:00:00Z");
        let day = chrono::Duration::days(1);
        let (before, old) = {
            let store = Store::open(&path, 1 << 20).unwrap();
            let old = arrive(&store, "https://a.example/old", SHOP, now - day * 40);
            arrive(&store, "https://a.example/recent", HOSPITAL, now - day);
            let before = trees(&store);
            // As an older kawaraban left it: fingerprints keyed by id.
            let i = &store.inner;
            let pairs: Vec<_> = i.fingerprints.iter().map(Result::unwrap).collect();
            i.fingerprints.clear().unwrap();
            for (k, v) in pairs {
                i.fingerprints.insert(&k[8..], v).unwrap();
            }
            i.meta.remove("fingerprint_index").unwrap();
            store.flush().unwrap();
            (before, old)
        };
        let store = Store::open(&path, 1 << 20).unwrap();
        assert_eq!(trees(&store), before);
        let pruned = store.prune(Policy::default(), now).unwrap();
        assert_eq!(pruned.dedup_expired, 1);
        assert!(!dedup_ids(&store).1.contains(&old.id.as_bytes().to_vec()));
    }

    #[test]
    fn tombstones_survive_export_and_import() {
        let (dir, store) = stocked();
        let policy = Policy {
            keep_days: Some(10),
            keep_max: None,
        };
        store.prune(policy, at("2026-01-14T00:00:00Z")).unwrap();
        let first = exported(&store);
        assert!(
            first.contains(r#""type":"tombstone","key":"https://a.example/1""#),
            "{first}"
        );
        let copy = Store::open(&dir.path().join("copy"), 1 << 20).unwrap();
        let counts = copy.import(first.as_bytes(), false).unwrap();
        assert_eq!(counts.tombstones, 6);
        assert_eq!(exported(&copy), first);
        assert!(copy.is_pruned("https://b.example/2").unwrap());
    }
}
