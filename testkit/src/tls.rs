//! A throwaway certificate authority for tests that need real TLS: a CA certificate written to a PEM file (for
//! `SSL_CERT_FILE`) and a server certificate for `localhost`/`127.0.0.1` signed by it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCa {
    pub pem_path: PathBuf,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

impl TestCa {
    pub fn new(dir: &Path) -> Self {
        Self::build(dir, false)
    }

    /// A CA whose certificates Windows' chain engine accepts as Wine 8 implements it: the server certificate
    /// names a CRL (Wine treats unknown revocation as failure) that is a file on drive Z:, unique to this CA
    /// (Wine caches CRLs per URL); both certificates carry ECDSA signatures with full-length r and s (see
    /// [`wine_can_verify`]). `crl_path` is the CRL, signed by the CA, empty.
    pub fn for_wine(dir: &Path) -> Self {
        Self::build(dir, true)
    }

    fn build(dir: &Path, wine: bool) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "azml-ssh test CA");
        let mut ca_cert = ca_params.self_signed(&ca_key).unwrap();
        // ECDSA signing is randomised: signing again gives another signature.
        while wine && !wine_can_verify(ca_cert.der()) {
            ca_cert = ca_params.self_signed(&ca_key).unwrap();
        }
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server_params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let crl_path = dir.join("test-ca.crl");
        if wine {
            let uri = format!("file:///Z:{}", crl_path.display());
            server_params.crl_distribution_points = vec![rcgen::CrlDistributionPoint { uris: vec![uri] }];
            let crl = rcgen::CertificateRevocationListParams {
                this_update: rcgen::date_time_ymd(1975, 1, 1),
                next_update: rcgen::date_time_ymd(4096, 1, 1),
                crl_number: rcgen::SerialNumber::from(1u64),
                issuing_distribution_point: None,
                revoked_certs: vec![],
                key_identifier_method: rcgen::KeyIdMethod::Sha256,
            }
            .signed_by(&issuer)
            .unwrap();
            std::fs::write(&crl_path, crl.der()).unwrap();
        }
        let mut server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        while wine && !wine_can_verify(server_cert.der()) {
            server_cert = server_params.signed_by(&server_key, &issuer).unwrap();
        }

        let pem_path = dir.join("test-ca.pem");
        std::fs::write(&pem_path, ca_cert.pem()).unwrap();
        TestCa {
            pem_path,
            server_chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
            server_key: server_key.serialize_der(),
        }
    }

    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .unwrap();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Wine 8.0's crypt32 cannot verify an ECDSA signature whose r or s has fewer than 32 significant bytes (about 1
/// in 128 P-256 signatures): it concatenates r and s without padding them. True when both are full length.
fn wine_can_verify(cert_der: &[u8]) -> bool {
    /// (value, rest) of the DER TLV at the start of `b`.
    fn tlv(b: &[u8]) -> (&[u8], &[u8]) {
        let (mut len, mut i) = (usize::from(b[1]), 2);
        if len & 0x80 != 0 {
            let n = len & 0x7f;
            len = b[2..2 + n].iter().fold(0, |acc, &x| acc << 8 | usize::from(x));
            i += n;
        }
        (&b[i..i + len], &b[i + len..])
    }
    let (cert, _) = tlv(cert_der); // Certificate ::= SEQUENCE {
    let (_, rest) = tlv(cert); //     tbsCertificate,
    let (_, rest) = tlv(rest); //     signatureAlgorithm,
    let (bits, _) = tlv(rest); //     signatureValue BIT STRING } = unused-bits byte + ECDSA-Sig-Value
    let (sig, _) = tlv(&bits[1..]); // ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }
    let (r, rest) = tlv(sig);
    let (s, _) = tlv(rest);
    // A DER INTEGER has a leading 0x00 when its top bit is set; without it, 32 bytes that start non-zero.
    let full = |i: &[u8]| {
        let i = if i.first() == Some(&0) { &i[1..] } else { i };
        i.len() == 32
    };
    full(r) && full(s)
}
