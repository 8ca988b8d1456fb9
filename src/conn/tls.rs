//! TLS for `rediss://`: rustls through the redis crate, checking the server against the
//! built-in web roots or, with `--redis-ca-file`, only against the CAs in that PEM file.

use redis::{ConnectionAddr, RedisError, TlsCertificates};
use std::path::Path;

const PEM_CERT: &[u8] = b"-----BEGIN CERTIFICATE-----";

/// Reads a CA file and parses it the way connections will, so a wrong path or a damaged file
/// fails at start-up instead of at the first connection.
pub fn read_ca_file(path: &Path) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !pem.windows(PEM_CERT.len()).any(|w| w == PEM_CERT) {
        return Err(format!("{} holds no PEM certificate", path.display()));
    }
    let probe = ConnectionAddr::TcpTls {
        host: "localhost".to_string(),
        port: 6379,
        insecure: false,
        tls_params: None,
    };
    redis::Client::build_with_tls(probe, certificates(&pem))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(pem)
}

/// The trust settings for connections: these CAs and no client certificate.
pub(crate) fn certificates(ca_pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(ca_pem.to_vec()),
    }
}

/// Whether a connection failed because the server's certificate was not trusted (or did not
/// name the host), as opposed to the server being unreachable.
pub(crate) fn is_trust_error(e: &RedisError) -> bool {
    let s = e.to_string();
    s.contains("invalid peer certificate")
        || s.contains("UnknownIssuer")
        || s.contains("NotValidForName")
        || s.contains("BadSignature")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_files_without_certificates() {
        let dir = std::env::temp_dir().join(format!("lyanna-ca-{}", std::process::id()));
        std::fs::write(&dir, b"not a certificate").unwrap();
        let e = read_ca_file(&dir).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
        std::fs::write(
            &dir,
            b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(read_ca_file(&dir).is_err());
        let _ = std::fs::remove_file(&dir);
        assert!(read_ca_file(Path::new("/nonexistent/ca.pem"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
