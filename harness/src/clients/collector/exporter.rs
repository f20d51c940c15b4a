//! The canary exporter: the workload's `/metrics`, served by the harness on loopback so a
//! real collector scrapes it. It remembers every counter value it served, in order, so the
//! checks know exactly which values may arrive in AMP.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::canary::Canary;

#[derive(Default)]
struct Served {
    /// The counter value of each scrape, in order.
    counter: Vec<f64>,
}

struct Shared {
    canary: Canary,
    served: Mutex<Served>,
}

pub struct Exporter {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// Serves `canary` on 127.0.0.1 at a free port.
    pub async fn start(canary: Canary) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            canary,
            served: Mutex::new(Served::default()),
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// `host:port`, as a scrape target.
    pub fn target(&self) -> String {
        self.addr.to_string()
    }

    pub fn scrapes(&self) -> usize {
        self.shared
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counter
            .len()
    }

    /// Every counter value served so far, in order.
    pub fn served_counter(&self) -> Vec<f64> {
        self.shared
            .served
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .counter
            .clone()
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let body = {
        let mut served = shared.served.lock().unwrap_or_else(|e| e.into_inner());
        let n = served.counter.len() as u64 + 1;
        served.counter.push(shared.canary.scraped_counter(n));
        shared.canary.exposition(n)
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::{Origin, SCRAPE_JOB};
    use crate::scenario::CanarySpec;

    #[tokio::test]
    async fn serves_the_exposition_and_remembers_each_scrape() {
        let canary = Canary::new(
            "exp",
            &CanarySpec::default(),
            0,
            Origin::Scraped {
                job: SCRAPE_JOB.into(),
                instance: "x".into(),
            },
        );
        let ex = Exporter::start(canary.clone()).await.unwrap();
        let url = format!("http://{}/metrics", ex.target());
        let body1 = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let body2 = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body1, canary.exposition(1));
        assert_eq!(body2, canary.exposition(2));
        assert_eq!(
            ex.served_counter(),
            vec![canary.scraped_counter(1), canary.scraped_counter(2)]
        );
    }
}
