//! Where a client finds the cluster: the scheduler's `df://HOST:PORT` address, and the
//! check that it answers before a job is sent.

use std::time::Duration;

use flowlake::error::{Error, Result};

/// How long the client waits for the scheduler to accept a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A scheduler address as `--cluster` takes it: `df://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAddress {
    pub host: String,
    pub port: u16,
}

impl ClusterAddress {
    /// Parses `df://HOST:PORT`; anything else is a usage error (a bad `--cluster` flag) that
    /// shows the expected form.
    pub fn parse(text: &str) -> Result<ClusterAddress> {
        ClusterAddress::parse_flag(text).map_err(|why| Error::Usage {
            message: format!("--cluster '{text}': {why}"),
        })
    }

    /// [`ClusterAddress::parse`] for clap: what is wrong, as text.
    pub fn parse_flag(text: &str) -> std::result::Result<ClusterAddress, String> {
        let bad = |why: &str| format!("{why}; expected df://HOST:PORT");
        let rest = text
            .strip_prefix("df://")
            .ok_or_else(|| bad("not a df:// address"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains(['/', '@', '?', '#']) {
            return Err(bad("no valid host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        Ok(ClusterAddress {
            host: host.to_string(),
            port,
        })
    }

    /// The address as users write it.
    pub fn url(&self) -> String {
        format!("df://{}", self.host_port())
    }

    /// The scheduler's gRPC endpoint.
    pub(crate) fn grpc_url(&self) -> String {
        format!("http://{}", self.host_port())
    }

    /// `HOST:PORT` (an IPv6 host in brackets).
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub(crate) fn unavailable(&self, message: impl Into<String>) -> Error {
        Error::ClusterUnavailable {
            address: self.url(),
            message: message.into(),
        }
    }

    /// Checks, within [`CONNECT_TIMEOUT`], that the scheduler accepts connections and has
    /// an executor: a job submitted to a cluster without one would wait for it forever
    /// (Ballista fails only the jobs that were running when the last executor was lost).
    pub async fn probe(&self) -> Result<()> {
        self.check().await.map_err(|why| self.unavailable(why))
    }

    /// What keeps the scheduler from running a query, if anything: `GET /readyz` on its
    /// one port answers 503 while it has no executor.
    pub(crate) async fn check(&self) -> std::result::Result<(), String> {
        let client = reqwest::Client::builder()
            .timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| format!("an HTTP client: {e}"))?;
        let url = format!("http://{}/readyz", self.host_port());
        match client.get(&url).send().await {
            Ok(answer) if answer.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                let said = answer.text().await.unwrap_or_default();
                Err(format!(
                    "the scheduler has no executor to run the query (GET /readyz: {})",
                    said.trim()
                ))
            }
            // A scheduler that does not answer HTTP (behind a gRPC-only proxy) is not judged.
            Ok(_) => Ok(()),
            Err(e) if e.is_timeout() => Err(format!(
                "the scheduler did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
            Err(e) if e.is_connect() => Err(format!(
                "the scheduler does not accept connections: {}",
                std::error::Error::source(&e).map_or(e.to_string(), ToString::to_string)
            )),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_df_urls_with_a_port() {
        assert_eq!(
            ClusterAddress::parse("df://127.0.0.1:50050").unwrap(),
            ClusterAddress {
                host: "127.0.0.1".into(),
                port: 50050
            }
        );
        assert_eq!(
            ClusterAddress::parse("df://sched.internal:7/")
                .unwrap()
                .url(),
            "df://sched.internal:7"
        );
        assert_eq!(
            ClusterAddress::parse("df://[::1]:9").unwrap().url(),
            "df://[::1]:9"
        );
        for bad in [
            "127.0.0.1:50050",
            "df://host",
            "df://:1",
            "df://h:0",
            "df://h:x",
            "http://h:1",
        ] {
            assert_eq!(
                ClusterAddress::parse(bad).unwrap_err().status(),
                400,
                "{bad}"
            );
        }
    }
}
