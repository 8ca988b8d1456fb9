//! One data node as we connect to it: the URL's transport (TLS or not), user, password and
//! database applied to whichever host and port the master is at now, with our timeouts.

use super::settings::{RedisSettings, SentinelAddr};
use super::tls;
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    RedisConnectionInfo, RedisError, RedisResult,
};
use std::time::Duration;

pub(crate) struct NodeSpec {
    /// From the URL, with the separate password applied.
    info: ConnectionInfo,
    ca_pem: Option<Vec<u8>>,
    pub config: AsyncConnectionConfig,
    pub connect_timeout: Duration,
    pub command_timeout: Duration,
}

impl NodeSpec {
    pub fn new(s: &RedisSettings) -> RedisResult<Self> {
        let mut info = s.url.as_str().into_connection_info()?;
        if let Some(pw) = &s.password {
            let r = info.redis_settings().clone().set_password(pw.expose());
            info = info.set_redis_settings(r);
        }
        let ca_pem = match &s.ca_file {
            Some(path) => Some(tls::read_ca_file(path).map_err(|e| {
                RedisError::from((ErrorKind::InvalidClientConfig, "bad CA file", e))
            })?),
            None => None,
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(s.connect_timeout))
            .set_response_timeout(Some(s.command_timeout));
        Ok(NodeSpec {
            info,
            ca_pem,
            config,
            connect_timeout: s.connect_timeout,
            command_timeout: s.command_timeout,
        })
    }

    pub fn is_unix(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::Unix(_))
    }

    /// A client for the URL's own address.
    pub fn client(&self) -> RedisResult<Client> {
        self.build(self.info.clone())
    }

    /// A client for the master at `host:port` (as a sentinel names it).
    pub fn client_at(&self, host: &str, port: u16) -> RedisResult<Client> {
        let addr = self.addr(host, port);
        self.build(self.info.clone().set_addr(addr))
    }

    /// A client for a sentinel: the same transport and CA, the sentinel's own password, no
    /// user and no database (sentinels have neither).
    pub fn sentinel_client(
        &self,
        sentinel: &SentinelAddr,
        password: Option<&str>,
    ) -> RedisResult<Client> {
        let mut redis = RedisConnectionInfo::default();
        if let Some(pw) = password {
            redis = redis.set_password(pw);
        }
        let info = self
            .info
            .clone()
            .set_addr(self.addr(&sentinel.host, sentinel.port))
            .set_redis_settings(redis);
        self.build(info)
    }

    fn addr(&self, host: &str, port: u16) -> ConnectionAddr {
        match self.info.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        }
    }

    fn build(&self, info: ConnectionInfo) -> RedisResult<Client> {
        match (&self.ca_pem, info.addr()) {
            (Some(ca), ConnectionAddr::TcpTls { .. }) => {
                Client::build_with_tls(info, tls::certificates(ca))
            }
            _ => Client::open(info),
        }
    }

    /// A new multiplexed connection with our connect and command timeouts.
    pub async fn connect(&self, client: &Client) -> RedisResult<MultiplexedConnection> {
        self.connect_with(client, &self.config).await
    }

    /// The same with another config (ours plus a disconnect hook).
    pub async fn connect_with(
        &self,
        client: &Client,
        config: &AsyncConnectionConfig,
    ) -> RedisResult<MultiplexedConnection> {
        client
            .get_multiplexed_async_connection_with_config(config)
            .await
    }
}
