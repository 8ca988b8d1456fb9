//! The text side of mention_users, pure: which names a comment mentions, and the mail's
//! subject, link and body, byte for byte the Python original's (`models/mention.py`,
//! `templates/email/mention.html`), with the interpolated values HTML-escaped.

use super::config::Permalink;
use super::db::Post;

/// At most this many names per comment (the original's `MENTION_LIMIT`).
pub const MENTION_LIMIT: usize = 20;

/// Python's `\w` on str: letters, digits and `_` (`str.isalnum()` or `_`). Rust's
/// `is_alphanumeric` is the same but for some combining vowel signs (Unicode
/// `Other_Alphabetic`), which Python leaves out; usernames are GitHub logins, ASCII.
fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

fn is_name_char(c: char) -> bool {
    c == '-' || c == '.' || is_word(c)
}

/// Every match of the original's `@([a-zA-Z0-9][-.\w]*?)(?![-.\w])`, in order. The lazy
/// repeat followed by that negative lookahead can only stop where the next character is not
/// `[-.\w]`, so it is the greedy run of such characters.
pub fn find_mentions(content: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = content;
    while let Some(at) = rest.find('@') {
        let after = &rest[at + 1..];
        match after.chars().next() {
            Some(c) if c.is_ascii_alphanumeric() => {
                let end = after
                    .char_indices()
                    .find(|(_, c)| !is_name_char(*c))
                    .map_or(after.len(), |(i, _)| i);
                out.push(&after[..end]);
                rest = &after[end..];
            }
            // No match at this '@': the scan goes on from the next character.
            _ => rest = after,
        }
    }
    out
}

/// The names to mail: mentions minus the commenter's own name, first mention first, without
/// duplicates, at most [`MENTION_LIMIT`]. (The original went through a `set`, so which 20 it
/// kept of more was arbitrary; we keep the first 20.)
pub fn mentioned_names(content: &str, commenter: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for n in find_mentions(content) {
        if n != commenter && !names.iter().any(|m| m == n) {
            names.push(n.to_string());
            if names.len() == MENTION_LIMIT {
                break;
            }
        }
    }
    names
}

/// The site-relative URL of a post (the original's `Post.url`).
pub fn post_path(post: &Post, permalink: Permalink) -> String {
    let slug = post.slug.as_deref().unwrap_or("");
    if post.kind == 1 {
        // The original printed `None` for a page without a slug; nothing serves that.
        return format!("/page/{slug}");
    }
    let field = match permalink {
        Permalink::Id => String::new(),
        Permalink::Slug => slug.to_string(),
        Permalink::Title => post.title.clone(),
    };
    if field.is_empty() {
        format!("/post/{}/", post.id)
    } else {
        format!("/post/{field}/")
    }
}

/// `有人在 {title} 的评论中提到了你!`
pub fn subject(post_title: &str) -> String {
    format!("有人在 {post_title} 的评论中提到了你!")
}

/// What the body needs besides the user.
pub struct Site<'a> {
    pub blog_url: &'a str,
    pub site_title: &'a str,
    pub permalink: Permalink,
}

/// `templates/email/mention.html`, rendered.
pub fn body(site: &Site<'_>, username: &str, post: &Post) -> String {
    let url = format!("{}{}", site.blog_url, post_path(post, site.permalink));
    format!(
        "Hi, {}:\n\n有人在 <a href=\"{}\" target=\"_blank\">{}</a> 的 \
         <a href=\"{}\" target=\"_blank\">{}</a> 这篇文章下的评论中提到了你! 快去看看把~\n\n\
         From: <a href=\"https://github.com/dongweiming/lyanna\" target=\"_blank\">Lyanna</a>\n",
        escape(username),
        escape(site.blog_url),
        escape(site.site_title),
        escape(&url),
        escape(&post.title),
    )
}

/// Python's `html.escape(s, quote=True)`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_like_the_regex() {
        assert_eq!(
            find_mentions("hi @alice, @bob.smith. and @carol-x! @_no @@dave"),
            vec!["alice", "bob.smith.", "carol-x", "dave"]
        );
        assert_eq!(
            find_mentions("mail me: me@example.com"),
            vec!["example.com"]
        );
        assert_eq!(find_mentions("@张三 @li李四 @x_y"), vec!["li李四", "x_y"]);
        assert_eq!(find_mentions("@"), Vec::<&str>::new());
        assert_eq!(find_mentions("end @z"), vec!["z"]);
    }

    #[test]
    fn names_skip_the_commenter_and_repeats_and_stop_at_20() {
        assert_eq!(
            mentioned_names("@me @you @me @you @them", "me"),
            vec!["you", "them"]
        );
        let many: String = (0..30).map(|i| format!("@u{i} ")).collect();
        let names = mentioned_names(&many, "nobody");
        assert_eq!(names.len(), 20);
        assert_eq!(names[0], "u0");
        assert_eq!(names[19], "u19");
    }

    fn post(kind: i64, slug: Option<&str>) -> Post {
        Post {
            id: 5,
            title: "A <b> & \"c\"".into(),
            slug: slug.map(str::to_string),
            kind,
        }
    }

    #[test]
    fn paths_follow_the_permalink_type() {
        assert_eq!(post_path(&post(0, Some("s")), Permalink::Slug), "/post/s/");
        assert_eq!(post_path(&post(0, Some("")), Permalink::Slug), "/post/5/");
        assert_eq!(post_path(&post(0, None), Permalink::Slug), "/post/5/");
        assert_eq!(post_path(&post(0, Some("s")), Permalink::Id), "/post/5/");
        assert_eq!(
            post_path(&post(0, Some("s")), Permalink::Title),
            "/post/A <b> & \"c\"/"
        );
        assert_eq!(
            post_path(&post(1, Some("about")), Permalink::Id),
            "/page/about"
        );
    }

    #[test]
    fn body_is_the_template_escaped() {
        let site = Site {
            blog_url: "https://b.example",
            site_title: "Tom & Jerry",
            permalink: Permalink::Slug,
        };
        assert_eq!(
            body(&site, "bob", &post(0, Some("s"))),
            "Hi, bob:\n\n有人在 <a href=\"https://b.example\" target=\"_blank\">Tom &amp; Jerry</a> 的 \
             <a href=\"https://b.example/post/s/\" target=\"_blank\">A &lt;b&gt; &amp; &quot;c&quot;</a> \
             这篇文章下的评论中提到了你! 快去看看把~\n\n\
             From: <a href=\"https://github.com/dongweiming/lyanna\" target=\"_blank\">Lyanna</a>\n"
        );
        assert_eq!(subject("T"), "有人在 T 的评论中提到了你!");
    }
}
