//! Trust anchors for outgoing TLS (JWKS endpoints, PostgreSQL): the webpki
//! roots, plus a private CA when one is configured.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

pub fn root_store(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in certs {
            roots.add(cert).map_err(|e| format!("{}: unusable CA certificate: {e}", path.display()))?;
        }
    }
    Ok(roots)
}
