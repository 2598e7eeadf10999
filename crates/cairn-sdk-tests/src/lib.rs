//! An in-process Cairn server on 127.0.0.1 (port 0) for compatibility tests that use the
//! official AWS SDK for Rust. The server runs on its own runtime thread and stops on drop.

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_server::config::Config;
use cairn_server::state::AppState;

/// Root credentials every test server uses.
pub const ROOT_KEY: &str = "AKIACAIRNSDKTEST0001";
/// Secret of [`ROOT_KEY`].
pub const ROOT_SECRET: &str = "cairn-sdk-test-secret-0123456789abcdef";

/// A running server.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The shared state (catalog access for fixtures).
    pub state: Arc<AppState>,
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with default configuration in a fresh temporary data directory, with
    /// the given local buckets.
    pub fn start(buckets: &[&str]) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config::for_data_dir(dir.path());
        let (state, _) = AppState::open(
            config,
            Some((ROOT_KEY.to_owned(), ROOT_SECRET.to_owned())),
            None,
        )
        .expect("open state");
        for b in buckets {
            state
                .catalog
                .create_bucket(&cairn_server::model::Bucket {
                    name: (*b).to_owned(),
                    account_id: state.config.account_id.to_string(),
                    region: state.config.home_region.to_string(),
                    created: 0,
                })
                .expect("bucket");
        }
        let state = Arc::new(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let server = cairn_server::serve::Server::bind(st).await.expect("bind");
                addr_tx
                    .send(server.local_addr().expect("addr"))
                    .expect("send addr");
                server
                    .run(async {
                        let _ = rx.await;
                    })
                    .await
                    .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("server address");
        TestServer {
            endpoint: format!("http://{addr}"),
            state,
            addr,
            stop: Some(tx),
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
