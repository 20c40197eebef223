//! TLS to PostgreSQL. The URL's standard `sslmode` parameter (or `PGSSLMODE`) decides, as with
//! libpq. Without either, a server on the same host (a loopback address, `localhost` or a Unix
//! socket) is reached without TLS, which protects nothing there and costs about a fifth of the
//! throughput of small queries; any other host keeps libpq's default, `prefer`.

use sea_orm::sqlx::postgres::PgConnectOptions;
use std::net::IpAddr;
use std::str::FromStr;

/// Whether `url` is a PostgreSQL URL on this host that leaves the TLS choice to us.
pub(crate) fn loopback_without_sslmode(url: &str, pgsslmode_set: bool) -> bool {
    if pgsslmode_set || !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return false;
    }
    let query = url.split_once('?').map_or("", |(_, query)| query);
    if query.split('&').any(|pair| pair.starts_with("sslmode=")) {
        return false;
    }
    PgConnectOptions::from_str(url).is_ok_and(|options| is_loopback(options.get_host()))
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.starts_with('/')
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_without_an_sslmode_are_reached_without_tls() {
        for url in [
            "postgres://u:p@127.0.0.1:5432/db",
            "postgresql://u:p@localhost/db",
            "postgres://u:p@[::1]:5432/db",
            "postgres://u:p@127.0.0.1/db?application_name=tb",
        ] {
            assert!(loopback_without_sslmode(url, false), "{url}");
        }
        for url in [
            "postgres://u:p@db.internal/db",
            "postgres://u:p@10.0.0.5/db",
            "postgres://u:p@127.0.0.1/db?sslmode=require",
            "postgres://u:p@localhost/db?application_name=tb&sslmode=prefer",
            "sqlite://tb.db?mode=rwc",
        ] {
            assert!(!loopback_without_sslmode(url, false), "{url}");
        }
        assert!(!loopback_without_sslmode(
            "postgres://u:p@127.0.0.1/db",
            true
        ));
    }
}
