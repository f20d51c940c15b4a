//! `pipecheck-bench serve-mock`: the mock stack (AMP with SigV4 verification, as
//! `pipecheck mock` serves it, without the cluster mocks) in a process of its own. It
//! prints one JSON line with its endpoint and credentials, then answers `stats` lines on
//! stdin with the workspace's sample and series counts; end of stdin stops it.

use std::process::ExitCode;

use pipecheck_mocks::{MockConfig, MockStack};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::procs::{MockInfo, MockStats};

pub fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("serve-mock: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let stack = match MockStack::start(MockConfig {
            cluster: None,
            ..MockConfig::default()
        })
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("serve-mock: {e}");
                return ExitCode::from(2);
            }
        };
        let ep = stack.endpoints();
        let ws = ep.workspace_id.clone().unwrap_or_default();
        let Some(store) = stack.amp.store(&ws) else {
            eprintln!("serve-mock: no workspace");
            return ExitCode::from(2);
        };
        let info = MockInfo {
            amp: ep.amp.clone(),
            workspace: ws,
            region: ep.region.clone(),
            access_key_id: ep.user.access_key_id.clone(),
            secret_access_key: ep.user.secret_access_key.clone(),
        };
        let mut out = tokio::io::stdout();
        let line = serde_json::to_string(&info).expect("plain struct") + "\n";
        if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
            return ExitCode::from(2);
        }
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(cmd)) = lines.next_line().await {
            let answer = match cmd.trim() {
                "stats" => serde_json::to_string(&MockStats {
                    samples: store.sample_count() as u64,
                    series: store.series_count() as u64,
                })
                .expect("plain struct"),
                other => format!("{{\"error\":\"unknown command {other:?}\"}}"),
            };
            if out.write_all((answer + "\n").as_bytes()).await.is_err()
                || out.flush().await.is_err()
            {
                break;
            }
        }
        stack.shutdown().await;
        ExitCode::SUCCESS
    })
}
