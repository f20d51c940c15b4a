//! `pipecheck-bench`: the mock AMP side by side with Debian's prometheus (ingest, query),
//! the mock's memory, pipecheck's time to verdict and the detection lag, in one run, as a
//! table of goals and measured ratios. Progress goes to stderr, the table to stdout.
//!
//! `cargo run --release -p pipecheck-bench [-- --quick]`. Every measurement is bounded in
//! requests and time; every child process (the mock, prometheus, pipecheck runs) is killed
//! and its temporary directory removed on every exit path, Ctrl-C included.

mod client;
mod ingest;
mod lag;
mod memory;
mod payload;
mod procs;
mod query;
mod readiness;
mod report;
mod serve;
mod verdict;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};

use report::Report;

#[derive(Parser, Debug)]
#[command(
    name = "pipecheck-bench",
    about = "Benchmarks: the mock AMP against prometheus, and pipecheck's time to verdict"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// A shorter run (about half a minute): fewer samples per ingest row, shorter query
    /// windows, one smoke run, one single-account readiness run.
    #[arg(long)]
    quick: bool,
    /// Only these sections (repeatable; default all).
    #[arg(long, value_enum)]
    only: Vec<Section>,
    /// The prometheus binary (default: `prometheus` on PATH).
    #[arg(long, value_name = "PATH")]
    prometheus: Option<PathBuf>,
    /// The pipecheck binary to time (default: built with `cargo build --release -p pipecheck`).
    #[arg(long, value_name = "PATH")]
    pipecheck: Option<PathBuf>,
    /// Series per remote-write request in the ingest rows.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 10_000, 100_000])]
    ingest_sizes: Vec<usize>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Serve the mock stack for the parent bench (internal).
    #[command(hide = true)]
    ServeMock,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Ingest,
    Query,
    Lag,
    Memory,
    Verdict,
    Readiness,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Some(Cmd::ServeMock) = cli.command {
        return serve::main();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pipecheck-bench: {e}");
            return ExitCode::from(2);
        }
    };
    // The bench future owns every child guard: when a signal wins the race, dropping it
    // kills the children and removes their directories.
    let code = rt.block_on(async {
        tokio::select! {
            code = bench(&cli) => code,
            _ = stop_signal() => {
                eprintln!("pipecheck-bench: interrupted; children stopped");
                130
            }
        }
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    ExitCode::from(code)
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    format!("{cores} cores ({cpu}), {mem} RAM")
}

async fn bench(cli: &Cli) -> u8 {
    let started = Instant::now();
    let want = |s: Section| cli.only.is_empty() || cli.only.contains(&s);
    let quick = cli.quick;
    let mut report = Report::default();
    let load_before = loadavg();
    let mut building = Duration::ZERO;
    if cfg!(debug_assertions) {
        report.note(
            "this bench binary is a debug build: numbers mean little (use cargo run --release)",
        );
    }
    let http = client::http_client();
    let prom = procs::find_prometheus(cli.prometheus.as_deref());
    if prom.is_none() {
        report.note(
            "no prometheus binary: the side-by-side rows are skipped (apt-get install prometheus)",
        );
    }
    let prom = prom.as_deref();

    if want(Section::Ingest) {
        let cfg = ingest::Config {
            sizes: cli.ingest_sizes.clone(),
            conns: 4,
            timed_samples: if quick { 600_000 } else { 3_000_000 },
            deadline: Duration::from_secs(if quick { 10 } else { 30 }),
        };
        ingest::run(&cfg, &http, prom, &mut report).await;
    }
    if want(Section::Query) || want(Section::Lag) {
        let cfg = query::Config {
            series: 1000,
            points: 1000,
            step_ms: 5_000,
            conns: 4,
            duration: Duration::from_secs(if quick { 2 } else { 5 }),
            max_queries: 200_000,
        };
        if let Some(setup) = query::run(&cfg, &http, prom, &mut report).await
            && want(Section::Lag)
        {
            let prom_ep = setup.prom.as_ref().map(|p| p.endpoint());
            lag::run(
                if quick { 50 } else { 200 },
                &http,
                &setup.mock.endpoint(),
                prom_ep.as_ref(),
                &mut report,
            )
            .await;
        }
    }
    if want(Section::Memory) {
        // The goal is defined after 10M samples, and writing them takes seconds: the same
        // in --quick. (Fixed costs, the allocator's retained memory among them, weigh more
        // per sample in a smaller store.)
        let cfg = memory::Config {
            series: 100_000,
            samples: 10_000_000,
            conns: 2,
        };
        memory::run(&cfg, &http, &mut report).await;
    }
    if want(Section::Verdict) || want(Section::Readiness) {
        let bin = match &cli.pipecheck {
            Some(p) if p.exists() => Ok(p.clone()),
            Some(p) => Err(format!("{} does not exist", p.display())),
            None => {
                let t = Instant::now();
                let built = verdict::build_pipecheck(&mut report);
                building = t.elapsed();
                built
            }
        };
        if want(Section::Verdict) {
            let cfg = verdict::Config {
                smoke_reps: if quick { 1 } else { 3 },
                many: 20,
                timeout: Duration::from_secs(30),
            };
            verdict::run(&cfg, bin.clone(), &mut report).await;
        }
        if want(Section::Readiness) {
            let cfg = readiness::Config {
                accounts: 100,
                single_reps: if quick { 1 } else { 3 },
                timeout: Duration::from_secs(300),
            };
            match &bin {
                Ok(b) => readiness::run(&cfg, b, &mut report).await,
                Err(e) => report.row(report::Row::skipped(
                    format!("readiness, {} accounts vs 1", cfg.accounts),
                    "<= 3x",
                    e.clone(),
                )),
            }
        }
    }

    println!(
        "pipecheck-bench{}: {}; load average {} before, {} after; {:.0} s in all ({:.0} s of it building pipecheck)",
        if quick { " --quick" } else { "" },
        machine(),
        load_before,
        loadavg(),
        started.elapsed().as_secs_f64(),
        building.as_secs_f64()
    );
    println!();
    print!("{}", report.render());
    let missed = report
        .rows
        .iter()
        .filter(|r| r.verdict == report::Verdict::Missed)
        .count();
    println!();
    println!(
        "{} rows, {} goals met, {missed} missed",
        report.rows.len(),
        report
            .rows
            .iter()
            .filter(|r| r.verdict == report::Verdict::Met)
            .count()
    );
    0
}
