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

    fn host_port(&self) -> String {
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

    /// What keeps the scheduler from running a query, if anything.
    pub(crate) async fn check(&self) -> std::result::Result<(), String> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.readiness()).await {
            Ok(Ok(Some(status)))
                if status.starts_with("HTTP/1.1 503") || status.starts_with("HTTP/1.0 503") =>
            {
                let said = status.lines().last().unwrap_or_default().trim().to_string();
                Err(format!(
                    "the scheduler has no executor to run the query (GET /readyz: {said})"
                ))
            }
            // A scheduler that does not answer HTTP (behind a gRPC-only proxy) is not judged.
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("the scheduler does not accept connections: {e}")),
            Err(_) => Err(format!(
                "the scheduler did not answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )),
        }
    }

    /// The scheduler's answer to `GET /readyz` (on its one port), or `None` when it gives
    /// none; an error when it does not accept connections.
    async fn readiness(&self) -> std::io::Result<Option<String>> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
        let request = format!(
            "GET /readyz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.host
        );
        let mut answer = Vec::new();
        let exchanged = async {
            stream.write_all(request.as_bytes()).await?;
            (&mut stream).take(4096).read_to_end(&mut answer).await
        };
        Ok(exchanged
            .await
            .ok()
            .map(|_| String::from_utf8_lossy(&answer).into_owned())
            .filter(|a| a.starts_with("HTTP/")))
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
