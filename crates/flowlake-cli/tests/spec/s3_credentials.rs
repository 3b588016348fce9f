//! S3 credentials found as the AWS CLI finds them, against the in-process S3 server: profiles
//! from temporary `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`, an EC2 instance role
//! from a tiny local metadata service (IMDSv2), and a metadata service that never answers.
//! The environment is set only in the `flowlake` child processes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::s3::{error_of, populate, query_args};
use super::s3_server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
use super::support::*;

/// A payload file and the lake `s3://lake/<prefix>` with 8 answer rows.
fn setup(server: &S3Server, prefix: &str, dir: &Path) -> (String, String) {
    populate(server, prefix, &[ORG], 4);
    let payload_file = dir.join("p.json");
    std::fs::write(
        &payload_file,
        payload("2026-03-01", "2026-03-04", json!({})),
    )
    .unwrap();
    (
        format!("s3://{BUCKET}/{prefix}"),
        payload_file.to_str().unwrap().to_string(),
    )
}

/// `flowlake query` on `lake` with no credentials in the environment: only the profile
/// files in `dir` (written by the test) and whatever `env` adds.
fn query_without_keys(
    server: &S3Server,
    lake: &str,
    payload_file: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_flowlake"));
    command.args(query_args(lake, payload_file));
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_SKIP_SIGNATURE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        command.env_remove(name);
    }
    command
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .envs(env.iter().copied())
        .args([
            "--s3-endpoint",
            &server.endpoint(),
            "--s3-allow-http",
            "--s3-max-retries",
            "1",
            "--s3-retry-timeout",
            "3",
        ]);
    command.output().expect("run flowlake")
}

fn rows(output: &Output) -> usize {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Value>(&output.stdout).unwrap()["data"]
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn profiles_of_the_aws_config_files_reach_the_bucket() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (lake, payload_file) = setup(&server, "profiles", dir.path());
    std::fs::write(
        dir.path().join("credentials"),
        format!(
            "[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n\
             [analyst]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n\n\
             [wrong-keys]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = not-the-secret\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config"),
        format!(
            "[default]\nregion = us-east-1\n\n[profile analyst]\nregion = eu-west-3\n\n\
             [profile in-config]\nregion = us-east-1\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
    )
    .unwrap();
    let no_imds = ("AWS_EC2_METADATA_DISABLED", "true");
    let run = |env: &[(&str, &str)]| {
        query_without_keys(
            &server,
            &lake,
            &payload_file,
            dir.path(),
            &[&[no_imds], env].concat(),
        )
    };

    assert_eq!(rows(&run(&[])), 8, "the default profile");
    assert_eq!(
        rows(&run(&[("AWS_PROFILE", "analyst")])),
        8,
        "AWS_PROFILE, keys in the credentials file"
    );
    assert_eq!(
        rows(&run(&[("AWS_PROFILE", "in-config")])),
        8,
        "keys in the config file"
    );

    let wrong = run(&[("AWS_PROFILE", "wrong-keys")]);
    assert_ne!(wrong.status.code(), Some(0));
    let refusal = error_of(&wrong);
    assert!(
        refusal["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("signature"),
        "the store's refusal: {refusal}"
    );
    assert!(
        !String::from_utf8_lossy(&wrong.stderr).contains("not-the-secret"),
        "secrets are never printed"
    );

    let missing = run(&[("AWS_PROFILE", "no-such-profile")]);
    assert_eq!(
        missing.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let error = error_of(&missing);
    let message = error["message"].as_str().unwrap();
    println!("missing profile: {message}");
    assert_eq!(error["status"], 400);
    assert!(
        message.contains("no S3 credentials for bucket 'lake'")
            && message.contains("no-such-profile"),
        "{message}"
    );
    assert!(missing.stdout.is_empty());
}

/// A tiny EC2 instance metadata service on 127.0.0.1: IMDSv2 token, role name, and the
/// role's credentials (the S3 server's keys); it records what it was asked.
struct MetadataService {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const IMDS_TOKEN: &str = "imds-session-token";
const ROLE: &str = "flowlake-reader";

impl MetadataService {
    /// `answer`: false for a service that accepts connections and never answers.
    fn start(answer: bool) -> MetadataService {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (requests, stop) = (
            Arc::new(Mutex::new(Vec::new())),
            Arc::new(AtomicBool::new(false)),
        );
        let (seen, stopping) = (Arc::clone(&requests), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                if answer {
                    let _ = serve_metadata(stream, &seen);
                } else {
                    held.push(stream);
                }
            }
        });
        MetadataService {
            addr,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for MetadataService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request (`connection: close`), recording "METHOD path [token]".
fn serve_metadata(stream: TcpStream, seen: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let (mut token, mut ttl, mut length) = (None, None, 0usize);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "x-aws-ec2-metadata-token" => token = Some(value.trim().to_string()),
            "x-aws-ec2-metadata-token-ttl-seconds" => ttl = Some(value.trim().to_string()),
            "content-length" => length = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let with_token = token.as_deref() == Some(IMDS_TOKEN);
    seen.lock().unwrap().push(format!(
        "{method} {path}{}",
        if with_token { " [token]" } else { "" }
    ));
    let expires = (chrono::Utc::now() + chrono::Duration::hours(6))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let credentials = json!({
        "Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC",
        "AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY, "Token": "role-session-token", "Expiration": expires,
    });
    let role_path = format!("/latest/meta-data/iam/security-credentials/{ROLE}");
    let (status, extra, content) = match (method.as_str(), path.as_str()) {
        ("PUT", "/latest/api/token") if ttl.is_some() => (
            "200 OK",
            format!(
                "x-aws-ec2-metadata-token-ttl-seconds: {}\r\n",
                ttl.unwrap_or_default()
            ),
            IMDS_TOKEN.to_string(),
        ),
        (_, _) if !with_token => ("401 Unauthorized", String::new(), String::new()),
        ("GET", "/latest/meta-data/iam/security-credentials/") => {
            ("200 OK", String::new(), ROLE.to_string())
        }
        ("GET", p) if p == role_path => ("200 OK", String::new(), credentials.to_string()),
        _ => ("404 Not Found", String::new(), String::new()),
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n{content}",
        content.len()
    )?;
    stream.flush()
}

#[test]
fn an_instance_role_from_the_metadata_service_reaches_the_bucket() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (lake, payload_file) = setup(&server, "instance-role", dir.path());
    let imds = MetadataService::start(true);
    let out = query_without_keys(
        &server,
        &lake,
        &payload_file,
        dir.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.endpoint())],
    );
    assert_eq!(rows(&out), 8);
    let asked = imds.requests();
    println!("metadata requests: {asked:?}");
    assert_eq!(
        asked.first().map(String::as_str),
        Some("PUT /latest/api/token"),
        "IMDSv2: a session token first: {asked:?}"
    );
    assert!(
        asked.contains(&"GET /latest/meta-data/iam/security-credentials/ [token]".to_string()),
        "{asked:?}"
    );
    assert!(
        asked.contains(&format!(
            "GET /latest/meta-data/iam/security-credentials/{ROLE} [token]"
        )),
        "{asked:?}"
    );
    assert!(
        asked.iter().skip(1).all(|r| r.ends_with("[token]")),
        "every read carries the token: {asked:?}"
    );
    assert!(
        asked.len() <= 4,
        "credentials are fetched once and cached: {asked:?}"
    );
}

#[test]
fn without_any_credentials_a_silent_metadata_service_is_a_quick_clear_400() {
    let server = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (lake, payload_file) = setup(&server, "nothing", dir.path());
    let silent = MetadataService::start(false);
    let started = Instant::now();
    let out = query_without_keys(
        &server,
        &lake,
        &payload_file,
        dir.path(),
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &silent.endpoint())],
    );
    let waited = started.elapsed();
    println!("no credentials: refused after {waited:?}");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let error = error_of(&out);
    println!("no credentials: {error}");
    assert_eq!(error["status"], 400);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("no S3 credentials for bucket 'lake'")
            && message.contains("AWS_PROFILE")
            && message.contains("instance metadata"),
        "{message}"
    );
    assert!(
        waited < Duration::from_secs(30),
        "the metadata service is given seconds, not minutes: {waited:?}"
    );
    assert!(out.stdout.is_empty());
}
