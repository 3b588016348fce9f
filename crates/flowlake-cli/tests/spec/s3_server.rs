//! A real S3-protocol server on 127.0.0.1 for the tests: s3s-fs (SigV4-checking, objects
//! as files under `<root>/<bucket>/<key>`) on its own thread and runtime, so that it keeps
//! serving while a test blocks on a child process. It can be stopped, or set to die after
//! a number of requests, to test faults in the middle of a query.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use flowlake::storage::{S3Credentials, S3Options};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::Notify;

pub const ACCESS_KEY: &str = "flowlake-test";
pub const SECRET_KEY: &str = "flowlake-test-secret";
pub const BUCKET: &str = "lake";

pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    stop: Arc<Notify>,
    requests: Arc<AtomicUsize>,
    die_after: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server whose bucket `lake` is an empty folder.
    pub fn start() -> S3Server {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket folder");
        let (stop, requests, die_after) = (
            Arc::new(Notify::new()),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(usize::MAX)),
        );
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let fs_root = root.path().to_path_buf();
        let (stop_, requests_, die_after_) = (
            Arc::clone(&stop),
            Arc::clone(&requests),
            Arc::clone(&die_after),
        );
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(serve(fs_root, ready_tx, stop_, requests_, die_after_));
        });
        let addr = ready_rx.recv().expect("server started");
        S3Server {
            addr,
            root,
            stop,
            requests,
            die_after,
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The folder that is the bucket: files put here are objects.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(BUCKET)
    }

    /// Engine options that reach this server with the right keys.
    pub fn options(&self) -> S3Options {
        S3Options {
            credentials: Some(S3Credentials {
                access_key_id: ACCESS_KEY.into(),
                secret_access_key: SECRET_KEY.into(),
            }),
            endpoint: Some(self.endpoint()),
            allow_http: true,
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(5),
            ..S3Options::default()
        }
    }

    /// The environment and flags of a `flowlake` child process for this server.
    pub fn command_env(&self, command: &mut std::process::Command) {
        command
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT")
            .args([
                "--s3-endpoint",
                &self.endpoint(),
                "--s3-allow-http",
                "--s3-max-retries",
                "2",
                "--s3-retry-timeout",
                "5",
            ]);
    }

    /// Requests answered so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The server stops (connections cut, port closed) when request number `n` arrives.
    pub fn die_at_request(&self, n: usize) {
        self.die_after.store(n, Ordering::SeqCst);
    }

    /// Stops the server: open connections are cut and the port is closed.
    pub fn stop(&mut self) {
        self.stop.notify_one();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread");
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(
    root: PathBuf,
    ready: std::sync::mpsc::Sender<SocketAddr>,
    stop: Arc<Notify>,
    requests: Arc<AtomicUsize>,
    die_after: Arc<AtomicUsize>,
) {
    let fs = s3s_fs::FileSystem::new(&root).expect("s3s-fs root");
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
    let service = builder.build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    // s3s-fs checks a conditional PUT's precondition and then writes, with nothing between
    // two such requests; real S3 decides them atomically. Conditional PUTs take turns here,
    // so that compare-and-swap means what it means on S3.
    let conditional = Arc::new(tokio::sync::Mutex::new(()));
    ready
        .send(listener.local_addr().expect("addr"))
        .expect("report address");
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((socket, _)) = accepted else { continue };
                // As real S3 endpoints do; without it Nagle's algorithm and delayed ACKs
                // stall small responses by tens of milliseconds.
                let _ = socket.set_nodelay(true);
                let (service, requests, die_after, stop, conditional) = (service.clone(), Arc::clone(&requests), Arc::clone(&die_after), Arc::clone(&stop), Arc::clone(&conditional));
                let handler = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let (service, stop, conditional) = (service.clone(), Arc::clone(&stop), Arc::clone(&conditional));
                    let is_conditional = request.method() == hyper::Method::PUT
                        && (request.headers().contains_key(hyper::header::IF_MATCH) || request.headers().contains_key(hyper::header::IF_NONE_MATCH));
                    let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
                    let dies = number >= die_after.load(Ordering::SeqCst);
                    async move {
                        if dies {
                            stop.notify_one();
                            std::future::pending::<()>().await;
                        }
                        let _turn = if is_conditional { Some(conditional.lock().await) } else { None };
                        hyper::service::Service::call(&service, request).await
                    }
                });
                connections.spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), handler).await;
                });
            }
            () = stop.notified() => break,
        }
    }
    drop(listener);
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

impl S3Server {
    /// Uploads a folder tree (a local lake) under `prefix` of the bucket with PUT requests,
    /// as a user's copy tool would (the server then keeps each object's ETag).
    pub fn upload(&self, from: &Path, prefix: &str) {
        let mut files = Vec::new();
        collect_files(from, &mut files);
        // On a thread of its own, so that async tests can call it too.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let (store, _, _) = flowlake::storage::store::s3_store(BUCKET, &self.options())
                        .await
                        .expect("store");
                    for file in files {
                        let relative = file
                            .strip_prefix(from)
                            .expect("inside")
                            .to_str()
                            .expect("utf-8")
                            .replace('\\', "/");
                        let key = object_store::path::Path::from(format!("{prefix}/{relative}"));
                        let bytes = std::fs::read(&file).expect("read");
                        object_store::ObjectStoreExt::put(store.as_ref(), &key, bytes.into())
                            .await
                            .expect("put");
                    }
                });
            });
        });
    }
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_dir() {
            collect_files(&entry.path(), files);
        } else {
            files.push(entry.path());
        }
    }
}
