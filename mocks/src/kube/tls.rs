//! TLS for the mock Kubernetes API: a CA generated per stack (rcgen), a server certificate
//! for `127.0.0.1` and `localhost` signed by it, and a rustls acceptor with the aws-lc-rs
//! provider (the one crypto provider of the whole binary; never ring). The CA's PEM goes
//! into the kubeconfig and into EKS's `certificateAuthority.data`, so clients verify the
//! server exactly as against a real cluster.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

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
