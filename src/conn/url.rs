//! Redis URLs in logs and errors, with secrets hidden.

/// Replaces the password (or a lone username-as-password) in `scheme://user:pass@host` by `***`.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_string(),
            };
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[test]
    fn hides_passwords() {
        assert_eq!(
            mask_url("redis://:s3cret@h:6379/2"),
            "redis://:***@h:6379/2"
        );
        assert_eq!(mask_url("rediss://app:pw@h/0"), "rediss://app:***@h/0");
        assert_eq!(mask_url("redis://token@h"), "redis://***@h");
        assert_eq!(mask_url("redis://h:6379"), "redis://h:6379");
    }
}
