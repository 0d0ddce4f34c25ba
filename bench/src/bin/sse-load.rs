//! `sse-load`: load tests for SSE servers (see `sse-load --help`; exit codes in `sse_bench::cli::exit`).

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use sse_bench::cli::{self, config::Mode, exit, flags::Flags};
use sse_bench::target::SERVE_SUBCOMMAND;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    // The embedded server: `sse-load __serve <server flags>`, started by sse-load itself.
    if rest.first().is_some_and(|a| a == SERVE_SUBCOMMAND) {
        return match cli::serve::run(rest.into_iter().skip(1)) {
            Ok(()) => ExitCode::from(exit::OK),
            Err(cli::serve::ServeError::Flags(err)) => {
                let _ = err.print();
                ExitCode::from(exit::USAGE)
            }
            Err(err) => {
                eprintln!("sse-load: error: {err}");
                ExitCode::from(exit::ERROR)
            }
        };
    }
    // Only here: the embedded server above keeps the allocator as it is.
    sse_bench::runner::pool::grow_arenas_in_large_steps();
    match run(std::iter::once(program).chain(rest)) {
        Ok(code) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => {
            eprintln!("sse-load: error: {err:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn run(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<u8> {
    let flags = match Flags::try_parse_from(args) {
        Ok(flags) => flags,
        Err(err) => {
            // --help and --version print and exit 0; invalid flags exit 2.
            err.print()?;
            return Ok(u8::try_from(err.exit_code()).unwrap_or(exit::USAGE));
        }
    };
    let mode = match Mode::from_flags(flags) {
        Ok(mode) => mode,
        Err(err) => {
            eprintln!("sse-load: error: {err}");
            return Ok(exit::USAGE);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let mut stdout = std::io::stdout().lock();
    match mode {
        Mode::List => stdout.write_all(cli::list().as_bytes())?,
        Mode::Compare {
            baseline,
            current,
            thresholds,
        } => {
            let (text, regressed) = cli::compare_files(&baseline, &current, &thresholds)?;
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            return Ok(if regressed { exit::REGRESSION } else { exit::OK });
        }
        Mode::Calibrate(args) => {
            drop(stdout);
            runtime()?.block_on(cli::ladder::calibrate(&args))?;
            return Ok(exit::OK);
        }
        Mode::Sweep(args) => {
            drop(stdout);
            runtime()?.block_on(cli::ladder::sweep(&args))?;
            return Ok(exit::OK);
        }
        Mode::Requests(config) => {
            drop(stdout);
            let report = runtime()?.block_on(sse_bench::requests::run(&config))?;
            print!("{}", report.render());
            println!("\nwrote {}", config.output_dir.join("requests.json").display());
            return Ok(exit::OK);
        }
        Mode::Run(config) => {
            drop(stdout);
            let verdict = runtime()?.block_on(cli::app::run(&config))?;
            return Ok(cli::exit_code(&verdict, config.fail_on_regression));
        }
        Mode::Noise(config) => {
            drop(stdout);
            runtime()?.block_on(cli::noise::run(&config))?;
            return Ok(exit::OK);
        }
    }
    stdout.flush()?;
    Ok(exit::OK)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
