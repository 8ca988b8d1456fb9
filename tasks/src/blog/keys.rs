//! Key names, pure: the blog's Redis keys (page views, under a configurable prefix), ours
//! (mails already sent per job, flushed counts awaiting confirmation), and the memcached keys
//! a post's page-view change makes stale (the original's `Post.clear_mc` + `__flush__`), in
//! the form lyanna's cache decorator stores them.

/// The web app's Redis keys and ours, under one prefix (`lyanna:` in production).
#[derive(Debug, Clone)]
pub struct RedisKeys {
    prefix: String,
}

/// The hash field the web app HINCRBYs.
pub const PAGEVIEW_FIELD: &str = "pv";

impl RedisKeys {
    pub fn new(prefix: impl Into<String>) -> Self {
        RedisKeys {
            prefix: prefix.into(),
        }
    }

    /// Set of post ids viewed since their count was last flushed (the web app SADDs).
    pub fn visited(&self) -> String {
        format!("{}visited_post_ids", self.prefix)
    }

    /// Hash whose `pv` field is the post's total page views (the web app HINCRBYs).
    pub fn pageview(&self, post_id: &str) -> String {
        format!("{}pageview:{post_id}:v2", self.prefix)
    }

    /// The parts around the id in [`Self::pageview`], for Lua scripts that build it.
    pub fn pageview_affixes(&self) -> (String, &'static str) {
        (format!("{}pageview:", self.prefix), ":v2")
    }

    /// Ours: hash post id -> "{unix ms} {pv}" of counts written and removed from the visited
    /// set, kept until the next run confirms no view raced the removal (see `flush.rs`).
    pub fn flushed(&self) -> String {
        format!("{}flushed_pageviews", self.prefix)
    }

    /// Ours: set of addresses a mention_users job already mailed, so a retry skips them.
    pub fn mailed(&self, job_id: &str) -> String {
        format!("{}mention_mailed:{job_id}", self.prefix)
    }
}

/// What the flush knows of a post to name its cache keys.
#[derive(Debug, Clone, PartialEq)]
pub struct PostCacheInfo {
    pub id: i64,
    pub slug: Option<String>,
    pub year: Option<i32>,
    pub tag_ids: Vec<i64>,
    pub special_ids: Vec<i64>,
}

/// Keys cached for every post list, dropped once per batch rather than once per post.
pub const SHARED_KEYS: [&str; 7] = [
    "core:feed",
    "core:sitemap",
    "core:search.json",
    "core:archives",
    "core:tags",
    "core:posts:True:v2",
    "core:posts:False:v2",
];

/// The memcached keys of one post, in the original's order, shared keys left out.
pub fn post_keys(p: &PostCacheInfo) -> Vec<String> {
    let mut keys = vec![
        format!("Post:{}:v2", p.id),
        format!("post:related_posts:{}", p.id),
    ];
    // A NULL slug: the original deleted `post:None:slug`, a key nothing reads.
    if let Some(slug) = &p.slug {
        keys.push(format!("post:{slug}:slug"));
    }
    if let Some(year) = p.year {
        keys.push(format!("core:archive:{year}"));
    }
    keys.extend(p.tag_ids.iter().map(|t| format!("core:tag:{t}")));
    for s in &p.special_ids {
        keys.push(format!("special:{s}:items"));
        keys.push(format!("special:{s}:post_items"));
    }
    keys.push(format!("special:by_pid:{}", p.id));
    keys
}

/// Longest key memcached accepts, in bytes.
pub const MAX_KEY_LEN: usize = 250;

/// Whether memcached's text protocol can carry `key`: 1-250 bytes, no space, control or DEL.
pub fn is_valid_mc_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b > 0x20 && b != 0x7f)
}

/// A key as lyanna's `@cache` decorator stores it: `models/mc.py`, `gen_key_factory`, returns
/// `key.replace(' ', '_')`, so the page of slug `has space` lives at `post:has_space:slug`.
/// Its `clear_mc` deletes the raw name, which memcached cannot hold, and the page stays stale.
/// Only U+0020 is replaced, as there: a tab or newline stays and the key stays invalid.
pub fn as_cached(key: &str) -> String {
    key.replace(' ', "_")
}

/// The memcached keys one flush batch deletes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchKeys {
    /// In lyanna's stored form, each once: the shared keys, then each post's in order.
    pub delete: Vec<String>,
    /// (post id, key) that memcached cannot carry even in stored form (a control character,
    /// over 250 bytes): nothing can be cached under them, so nothing is deleted.
    pub invalid: Vec<(i64, String)>,
}

/// Every key of `posts`, and the shared ones once, as [`as_cached`] names them.
pub fn batch_keys(posts: &[PostCacheInfo]) -> BatchKeys {
    let mut out = BatchKeys::default();
    let mut seen = std::collections::HashSet::new();
    let shared = SHARED_KEYS.iter().map(|k| (None, k.to_string()));
    let own = posts
        .iter()
        .flat_map(|p| post_keys(p).into_iter().map(move |k| (Some(p.id), k)));
    for (post, raw) in shared.chain(own) {
        let key = as_cached(&raw);
        if !is_valid_mc_key(&key) {
            out.invalid.push((post.unwrap_or_default(), key));
        } else if seen.insert(key.clone()) {
            out.delete.push(key);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_keys_match_the_web_app() {
        let k = RedisKeys::new("lyanna:");
        assert_eq!(k.visited(), "lyanna:visited_post_ids");
        assert_eq!(k.pageview("42"), "lyanna:pageview:42:v2");
        let (a, b) = k.pageview_affixes();
        assert_eq!(format!("{a}42{b}"), k.pageview("42"));
    }

    #[test]
    fn post_keys_in_the_originals_terms() {
        let p = PostCacheInfo {
            id: 7,
            slug: Some("hello-world".into()),
            year: Some(2019),
            tag_ids: vec![3, 4],
            special_ids: vec![9],
        };
        assert_eq!(
            post_keys(&p),
            vec![
                "Post:7:v2",
                "post:related_posts:7",
                "post:hello-world:slug",
                "core:archive:2019",
                "core:tag:3",
                "core:tag:4",
                "special:9:items",
                "special:9:post_items",
                "special:by_pid:7",
            ]
        );
        let bare = PostCacheInfo {
            slug: None,
            tag_ids: vec![],
            special_ids: vec![],
            ..p
        };
        assert!(!post_keys(&bare).iter().any(|k| k.contains("None")));
    }

    #[test]
    fn keys_are_deleted_in_the_form_lyanna_stores_them() {
        assert_eq!(as_cached("post:has space:slug"), "post:has_space:slug");
        assert_eq!(as_cached("post:a  b :slug"), "post:a__b_:slug");
        for k in SHARED_KEYS {
            assert_eq!(as_cached(k), k);
        }
        let post = |id, slug: &str| PostCacheInfo {
            id,
            slug: Some(slug.into()),
            year: Some(2020),
            tag_ids: vec![1],
            special_ids: vec![],
        };
        let long = "x".repeat(250);
        let b = batch_keys(&[
            post(1, "has space"),
            post(2, "tab\there"),
            post(3, &long),
            post(4, "has_space"),
        ]);
        assert_eq!(&b.delete[..SHARED_KEYS.len()], &SHARED_KEYS[..]);
        assert!(b.delete.contains(&"post:has_space:slug".to_string()));
        assert!(b.delete.iter().all(|k| is_valid_mc_key(k)), "{b:?}");
        // Posts 1 and 4 share the stored key, as they share the cached page in lyanna.
        let n = |k: &str| b.delete.iter().filter(|d| *d == k).count();
        assert_eq!(n("post:has_space:slug"), 1);
        assert_eq!(n("core:archive:2020"), 1);
        assert_eq!(n("core:tag:1"), 1);
        assert!(b.delete.contains(&"Post:2:v2".to_string()));
        assert_eq!(
            b.invalid,
            vec![
                (2, "post:tab\there:slug".to_string()),
                (3, format!("post:{long}:slug")),
            ]
        );
    }

    #[test]
    fn memcached_key_rules() {
        assert!(is_valid_mc_key("post:héllo:slug"));
        assert!(!is_valid_mc_key("post:a b:slug"));
        assert!(!is_valid_mc_key("post:a\nb:slug"));
        assert!(!is_valid_mc_key(""));
        assert!(is_valid_mc_key(&"k".repeat(250)));
        assert!(!is_valid_mc_key(&"k".repeat(251)));
    }
}
