//! The one test harness of the workspace (dev-only, never published): the pieces every
//! integration test repeats, used by the root crate's `tests/` (through `tests/common`,
//! `tests/ops_support`, `tests/redis_harness`, `tests/blog_common`) and by `tasks/tests`.
//!
//! | module | what |
//! |---|---|
//! | [`ids`] | unique ids and queue names, the test Redis / MariaDB URLs |
//! | [`ports`] | free loopback ports, waiting for one to listen |
//! | [`wait`] | polling a condition until a deadline (async and blocking) |
//! | [`process`] | a child process with its own log file, killed on drop |
//! | [`redis_server`] | private `redis-server` processes that stop and start on one port |
//! | [`redis_client`] | connections to a test Redis |
//! | [`http`] | the HTTP/1.1 client: any request to a loopback server, the probes, metrics |
//! | [`proxy`] | a loopback TCP proxy that cuts, blackholes or drops replies on cue |
//! | [`text`] | logs: colour codes stripped, lines counted, a file's tail |
//! | [`cleanup`] | async clean-up (test keys, scratch databases) from a `Drop` |

pub mod cleanup;
pub mod http;
pub mod ids;
pub mod ports;
pub mod process;
pub mod proxy;
pub mod redis_client;
pub mod redis_server;
pub mod text;
pub mod wait;

pub use cleanup::block_on_own_thread;
pub use http::{http_get, metric_line, metric_value, readyz, status};
pub use ids::{mysql_url, redis_url, short_uid, uid, unique_queue};
pub use ports::{free_port, wait_for_port};
pub use process::Process;
pub use proxy::TcpProxy;
pub use redis_client::{connect, redis_conn};
pub use redis_server::{redis_node_args, RedisNode};
pub use text::{count_lines, count_lines_with, strip_ansi, tail};
pub use wait::{poll_until, wait_until};
