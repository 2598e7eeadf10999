//! Binding, serving and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::state::AppState;

/// A bound server.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    listener: TcpListener,
}

/// Binding failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The address is in use or not available.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

impl Server {
    /// Binds the configured address.
    pub async fn bind(state: Arc<AppState>) -> Result<Self, BindError> {
        let addr = state.config.listen;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| BindError::Listen { addr, source })?;
        Ok(Self { state, listener })
    }

    /// The bound address (the real port when configured with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The shared state.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Starts the pipeline, serves until `shutdown` completes, finishes in-flight requests,
    /// then flushes open log-file batches (bounded by a 20 s deadline).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.state
            .start_pipeline(tokio::runtime::Handle::current())?;
        let app = crate::http::router(self.state.clone());
        let served = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let state = self.state.clone();
        let _ = tokio::task::spawn_blocking(move || {
            state.stop_pipeline(std::time::Duration::from_secs(20))
        })
        .await;
        served
    }
}

/// Installs SIGINT and SIGTERM handlers now and returns a future that resolves when either
/// arrives. Install before announcing readiness, so an early signal is not lost.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
