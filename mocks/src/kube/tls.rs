//! TLS for the mock Kubernetes API: a CA generated per stack (rcgen), a server certificate
//! for `127.0.0.1` and `localhost` signed by it, and a rustls acceptor with the aws-lc-rs
//! provider (the one crypto provider of the whole binary; never ring). The CA's PEM goes
//! into the kubeconfig and into EKS's `certificateAuthority.data`, so clients verify the
//! server exactly as against a real cluster.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("failed to generate the mock cluster's certificates")]
    Certificate(#[source] rcgen::Error),
    #[error("failed to build the TLS server configuration")]
    Config(#[source] rustls::Error),
}

/// The mock cluster's CA and server certificate.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    /// The CA certificate (PEM): what clients trust.
    pub ca_pem: String,
    /// The server certificate (PEM), for the curious.
    pub server_cert_pem: String,
    config: Arc<rustls::ServerConfig>,
}

impl TlsMaterial {
    /// A fresh CA (`CN=pipecheck-mock-cluster-ca`, valid from an hour ago for a year) and a
    /// server certificate for `127.0.0.1`, `::1` and `localhost` (serverAuth).
    pub fn generate() -> Result<Self, TlsError> {
        let now = time::OffsetDateTime::now_utc();
        let not_before = now - time::Duration::hours(1);
        let not_after = now + time::Duration::days(365);

        let ca_key = KeyPair::generate().map_err(TlsError::Certificate)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(TlsError::Certificate)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "pipecheck-mock-cluster-ca");
        ca.distinguished_name = dn;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca.not_before = not_before;
        ca.not_after = not_after;
        let ca_cert = ca.self_signed(&ca_key).map_err(TlsError::Certificate)?;
        let issuer = Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().map_err(TlsError::Certificate)?;
        let mut server = CertificateParams::new(vec![
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "localhost".to_string(),
        ])
        .map_err(TlsError::Certificate)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "kube-apiserver");
        server.distinguished_name = dn;
        server.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        server.not_before = not_before;
        server.not_after = not_after;
        let server_cert = server
            .signed_by(&server_key, &issuer)
            .map_err(TlsError::Certificate)?;

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(TlsError::Config)?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            config: Arc::new(config),
        })
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

/// Serves `app` over TLS on `listener`, HTTP/1.1 or HTTP/2 as ALPN chose. Aborting the
/// returned task stops the listener and every open connection.
pub fn serve_tls(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    app: Router,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let acceptor = TlsAcceptor::from(config);
        // Owning the connections here means aborting this task drops (aborts) them too.
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => {
                        let acceptor = acceptor.clone();
                        let app = app.clone();
                        conns.spawn(async move {
                            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                Ok(Ok(tls)) => tls,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "mock Kubernetes API: TLS handshake failed");
                                    return;
                                }
                                Err(_) => return,
                            };
                            let svc = TowerToHyperService::new(app);
                            if let Err(e) = auto::Builder::new(TokioExecutor::new())
                                .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                                .await
                            {
                                tracing::debug!(error = %e, "mock Kubernetes API: connection ended");
                            }
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: wait, then go on.
                        tracing::warn!(error = %e, "mock Kubernetes API: accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_a_ca_and_a_server_certificate() {
        let m = TlsMaterial::generate().unwrap();
        assert!(m.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(m.ca_pem, m.server_cert_pem);
        assert_eq!(m.server_config().alpn_protocols[1], b"http/1.1");
    }
}
