//! Names no other test uses, and where the shared test services are.

/// 32 hex digits, new each call.
pub fn uid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// 12 hex digits (database names, key prefixes).
pub fn short_uid() -> String {
    uid()[..12].to_string()
}

/// A queue name no other test uses.
pub fn unique_queue(test: &str) -> String {
    format!("test:{test}:{}", short_uid())
}

/// The Redis every test shares (never flushed; tests use their own queue names and ids).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_string())
}

/// The MariaDB server the blog tests make scratch databases in.
pub fn mysql_url() -> String {
    std::env::var("TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_string())
}
