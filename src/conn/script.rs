//! Running a Lua script by its hash with the arguments copied once. redis-rs's
//! `ScriptInvocation` keeps its own copy of every argument and copies them again into the
//! command it sends, so a 30 MB result would be held twice before it is even packed; here
//! the command is built directly, and sent again unchanged after loading the script when
//! Redis answers NOSCRIPT (after a restart or a failover to a replica that never saw it).

use redis::aio::ConnectionLike;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisResult, Script, ServerErrorKind};

/// `EVALSHA hash nkeys`, to which the caller adds the keys and then the arguments.
pub fn evalsha(script: &Script, nkeys: usize) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(nkeys);
    cmd
}

/// Sends `cmd` (made by [`evalsha`] for `script`), loading the script once if Redis does not
/// know it.
pub async fn run<T: FromRedisValue>(
    conn: &mut impl ConnectionLike,
    script: &Script,
    cmd: &Cmd,
) -> RedisResult<T> {
    match cmd.query_async(conn).await {
        Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
            script.load_async(conn).await?;
            cmd.query_async(conn).await
        }
        other => other,
    }
}
