//! Running servers for the operations tests: the `flowlake serve` binary as a child process
//! (its stderr collected line by line while it runs), and in-process servers with any
//! [`ServeConfig`].

pub use crate::support::repo;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flowlake::{Engine, EngineConfig, LakeLocation};
use flowlake_cli::serve::{Access, ServeConfig, Server};
use tokio::sync::oneshot;

/// The sample lake's organization and interaction workflow (README, `data/`).
pub const SAMPLE_ORG: &str = "8bf400e3-6fa2-4d3f-a8d4-c03c0aa04f6d";
pub const SAMPLE_WORKFLOW: &str = "5887c297-1e03-45e4-863e-7a9f784c5a2c";

/// A payload of `queries/`.
pub fn example_query(name: &str) -> String {
    std::fs::read_to_string(repo().join("queries").join(name)).expect("example query")
}

/// The source data URL of a server.
pub fn source_data_url(addr: &str, org: &str, workflow: &str) -> String {
    format!("http://{addr}/api/reporting/workflow/v1/orgs/{org}/workflows/{workflow}/source_data")
}

/// Polls `check` until it is true; panics with `what` after a generous deadline. Timing never
/// decides the outcome: the deadline is only there so that a broken build does not hang.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `flowlake serve` as a child process.
pub struct ServedBinary {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl ServedBinary {
    /// Starts `flowlake serve --listen 127.0.0.1:0 <args>` in the repository folder and
    /// waits for the line that gives its address.
    pub fn start(args: &[&str]) -> ServedBinary {
        let mut child = Command::new(env!("CARGO_BIN_EXE_flowlake"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(repo())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("flowlake serve starts");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let collected = Arc::clone(&lines);
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("listening on http://") {
                    let rest = &line[at + "listening on http://".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    let _ = addr_tx.send(addr);
                }
                collected.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not say where it listens: {:?}",
                    lines.lock().unwrap()
                );
            }
        };
        ServedBinary {
            child,
            addr,
            lines,
            reader: Some(reader),
        }
    }

    /// The stderr lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Sends a signal (`HUP`, `TERM`, …) to the server.
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
    }

    /// Stops the server with SIGTERM and returns all its stderr lines.
    pub fn stop(mut self) -> Vec<String> {
        self.signal("TERM");
        let status = self.child.wait().expect("wait");
        assert_eq!(
            status.code(),
            Some(0),
            "stopped cleanly: {:?}",
            self.lines()
        );
        if let Some(reader) = self.reader.take() {
            reader.join().expect("stderr reader");
        }
        self.lines()
    }
}

impl Drop for ServedBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An in-process server on a loopback port.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The separate metrics address, when configured.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// A server configuration for tests: loopback, no access control, small limits.
pub fn test_config() -> ServeConfig {
    ServeConfig {
        listen: "127.0.0.1:0".parse().expect("address"),
        access: None,
        access_file: None,
        max_body_bytes: 64 * 1024,
        request_timeout: Duration::from_secs(30),
        max_concurrent: 16,
        reload_interval: Duration::from_secs(3600),
        metrics_listen: None,
        connections: flowlake_cli::serve::ConnectionLimits::default(),
    }
}

impl RunningServer {
    /// Serves `location` with `config`.
    pub async fn start(
        engine_config: EngineConfig,
        location: LakeLocation,
        config: ServeConfig,
    ) -> RunningServer {
        let engine = Arc::new(Engine::new(&engine_config).expect("engine"));
        let lake = Arc::new(engine.open_lake(location).await.expect("lake opens"));
        let mut server = Server::bind(engine, lake, config).await.expect("bind");
        let addr = server.local_addr().expect("address");
        let metrics_addr = match server.take_metrics_server() {
            Some(metrics) => {
                let addr = metrics.local_addr().expect("metrics address");
                tokio::spawn(metrics.run());
                Some(addr)
            }
            None => None,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        RunningServer {
            addr,
            metrics_addr,
            stop: Some(stop),
            done,
        }
    }

    /// Serves a local lake folder, with access control when `access` is given.
    pub async fn local(
        lake: &Path,
        access: Option<Access>,
        tune: impl FnOnce(&mut ServeConfig),
    ) -> RunningServer {
        let mut config = test_config();
        config.access = access;
        tune(&mut config);
        RunningServer::start(
            EngineConfig::default(),
            LakeLocation::Local(lake.to_path_buf()),
            config,
        )
        .await
    }

    pub fn url(&self, org: &str, workflow: &str) -> String {
        source_data_url(&self.addr.to_string(), org, workflow)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.await.expect("server task").expect("server");
    }
}

/// One POST of a JSON payload; the status, the response headers and the body.
pub async fn post_json(
    url: &str,
    token: Option<&str>,
    body: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.bytes().await.expect("complete body").to_vec(),
    )
}
