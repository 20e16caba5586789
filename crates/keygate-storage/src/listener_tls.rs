//! TLS for the key-change listener's own Postgres connection, as the database URL asks for it —
//! the same URL the pool (libpq) connects with, read with libpq's meaning.
//!
//! **Key decision: never plain text where TLS was asked for.** `sslmode=require`, `verify-ca`
//! and `verify-full` connect over TLS or not at all; `prefer` (libpq's default, also when the
//! URL names no `sslmode`) and `allow` try TLS first and fall back to plain text; `disable` never
//! uses TLS. As in libpq, `require` encrypts without checking the server's certificate unless a
//! root certificate is named (`sslrootcert`; it is then checked as with `verify-ca`),
//! `verify-ca` checks the certificate chain and `verify-full` also the host name. The root
//! certificates are `sslrootcert`'s file (`system`: OpenSSL's default trust store), else
//! `~/.postgresql/root.crt` as libpq; `sslcert` / `sslkey` present a client certificate.
//!
//! rust-postgres understands neither `verify-*` nor the certificate options, so these are taken
//! out of the URL here (and applied to an OpenSSL connector, the vendored build the workspace
//! compiles); every other part of the URL reaches it unchanged.

use std::path::{Path, PathBuf};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres::config::SslMode;
use postgres_openssl::MakeTlsConnector;

use crate::error::StorageError;

/// What the URL's `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TlsMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    fn parse(value: &str) -> Result<TlsMode, StorageError> {
        match value {
            "disable" => Ok(TlsMode::Disable),
            // `allow` tries plain text first in libpq; trying TLS first is never weaker.
            "allow" | "prefer" => Ok(TlsMode::Prefer),
            "require" => Ok(TlsMode::Require),
            "verify-ca" => Ok(TlsMode::VerifyCa),
            "verify-full" => Ok(TlsMode::VerifyFull),
            other => Err(invalid(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ))),
        }
    }
}

/// The TLS options of a URL, taken out of it.
#[derive(Debug, Default)]
struct TlsOptions {
    mode: Option<TlsMode>,
    root_cert: Option<String>,
    client_cert: Option<String>,
    client_key: Option<String>,
}

/// How the listener connects: rust-postgres's configuration and the TLS connector to use.
pub(crate) struct ListenerConnection {
    pub(crate) config: postgres::Config,
    pub(crate) tls: MakeTlsConnector,
}

/// The listener's connection settings for the Postgres `url`.
///
/// # Errors
/// [`StorageError::InvalidUrl`] for a URL rust-postgres cannot read, an unknown `sslmode`, a
/// `verify-*` mode without a root certificate, or a certificate file that cannot be loaded.
pub(crate) fn listener_connection(url: &str) -> Result<ListenerConnection, StorageError> {
    let (url, options) = take_tls_options(url)?;
    let mut config: postgres::Config = url.parse().map_err(|error: postgres::Error| {
        invalid(format!(
            "the key-change listener cannot use this Postgres URL: {error}"
        ))
    })?;
    let mode = options.mode.unwrap_or(TlsMode::Prefer);
    config.ssl_mode(match mode {
        TlsMode::Disable => SslMode::Disable,
        TlsMode::Prefer => SslMode::Prefer,
        TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
    });
    let tls = connector(mode, &options)?;
    Ok(ListenerConnection { config, tls })
}

/// `url` without its TLS options, and those options.
fn take_tls_options(url: &str) -> Result<(String, TlsOptions), StorageError> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), TlsOptions::default()));
    };
    let mut options = TlsOptions::default();
    let mut kept = Vec::new();
    for segment in query.split('&').filter(|segment| !segment.is_empty()) {
        let Some((key, value)) = url::form_urlencoded::parse(segment.as_bytes()).next() else {
            kept.push(segment);
            continue;
        };
        match &*key {
            "sslmode" => options.mode = Some(TlsMode::parse(&value)?),
            "sslrootcert" => options.root_cert = Some(value.into_owned()),
            "sslcert" => options.client_cert = Some(value.into_owned()),
            "sslkey" => options.client_key = Some(value.into_owned()),
            _ => kept.push(segment),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, options))
}

/// libpq's default root certificate file, if there is one.
fn default_root_cert() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(".postgresql").join("root.crt");
    path.is_file().then_some(path)
}

/// The OpenSSL connector for `mode` and the certificate options.
fn connector(mode: TlsMode, options: &TlsOptions) -> Result<MakeTlsConnector, StorageError> {
    let tls_error = |what: &str, error: openssl::error::ErrorStack| {
        invalid(format!("the key-change listener {what}: {error}"))
    };
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .map_err(|error| tls_error("cannot set up TLS", error))?;
    let root_cert = match (&options.root_cert, mode) {
        (Some(path), _) => Some(PathBuf::from(path)),
        (None, TlsMode::VerifyCa | TlsMode::VerifyFull) => Some(default_root_cert().ok_or_else(|| {
            invalid(
                "sslmode=verify-ca and verify-full need a root certificate: name one with sslrootcert (a file, or `system`) or put it in ~/.postgresql/root.crt".to_owned(),
            )
        })?),
        (None, _) => None,
    };
    match &root_cert {
        Some(path) if path.as_os_str() == "system" => builder
            .set_default_verify_paths()
            .map_err(|error| tls_error("cannot load the system's root certificates", error))?,
        Some(path) => builder.set_ca_file(path).map_err(|error| {
            tls_error(
                &format!("cannot load sslrootcert {}", path.display()),
                error,
            )
        })?,
        None => {}
    }
    let verify = match mode {
        TlsMode::VerifyCa | TlsMode::VerifyFull => true,
        TlsMode::Require => root_cert.is_some(),
        TlsMode::Disable | TlsMode::Prefer => false,
    };
    builder.set_verify(if verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    if let Some(path) = &options.client_cert {
        builder
            .set_certificate_chain_file(path)
            .map_err(|error| tls_error(&format!("cannot load sslcert {path}"), error))?;
    }
    if let Some(path) = &options.client_key {
        builder
            .set_private_key_file(path, SslFiletype::PEM)
            .map_err(|error| tls_error(&format!("cannot load sslkey {path}"), error))?;
    }
    let mut connector = MakeTlsConnector::new(builder.build());
    if mode != TlsMode::VerifyFull {
        connector.set_callback(|connect, _host| {
            connect.set_verify_hostname(false);
            Ok(())
        });
    }
    Ok(connector)
}

fn invalid(reason: String) -> StorageError {
    StorageError::InvalidUrl { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_and_the_rest_is_kept() {
        let (url, options) = take_tls_options(
            "postgres://u@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://u@h:5/db?application_name=x&connect_timeout=3"
        );
        assert_eq!(options.mode, Some(TlsMode::VerifyFull));
        assert_eq!(options.root_cert.as_deref(), Some("/tmp/ca.pem"));

        let (url, options) = take_tls_options("postgres://u@h/db?sslmode=require").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(options.mode, Some(TlsMode::Require));
        let (url, options) = take_tls_options("postgres://u@h/db").unwrap();
        assert_eq!(url, "postgres://u@h/db");
        assert_eq!(options.mode, None);
    }

    #[test]
    fn every_libpq_mode_is_understood_and_tls_is_required_where_asked() {
        for (sslmode, expected) in [
            ("disable", SslMode::Disable),
            ("allow", SslMode::Prefer),
            ("prefer", SslMode::Prefer),
            ("require", SslMode::Require),
        ] {
            let connection =
                listener_connection(&format!("postgres://h/db?sslmode={sslmode}")).unwrap();
            assert_eq!(connection.config.get_ssl_mode(), expected, "{sslmode}");
        }
        // No sslmode: libpq's default, prefer.
        let connection = listener_connection("postgres://h/db").unwrap();
        assert_eq!(connection.config.get_ssl_mode(), SslMode::Prefer);
        assert!(matches!(
            listener_connection("postgres://h/db?sslmode=sometimes"),
            Err(StorageError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn a_verifying_mode_without_a_usable_root_certificate_is_refused_up_front() {
        let missing = listener_connection(
            "postgres://h/db?sslmode=verify-full&sslrootcert=/nonexistent/keygate-ca.pem",
        );
        let Err(StorageError::InvalidUrl { reason }) = missing else {
            panic!("a missing root certificate must be refused");
        };
        assert!(reason.contains("sslrootcert"), "{reason}");

        // The system's trust store is a root certificate too.
        let system =
            listener_connection("postgres://h/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(system.config.get_ssl_mode(), SslMode::Require);
    }
}
