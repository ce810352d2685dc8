//! Logging set-up: `-v` for debug, `-vv` for trace, `--log-format json` for
//! machine-readable logs; `RUST_LOG` overrides.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber (logs go to stderr).
pub fn init(verbose: u8, format: LogFormat) {
    install(
        match verbose {
            0 => "warn",
            1 => "info,simforge=debug",
            _ => "trace",
        },
        format,
    );
}

/// Installs the global subscriber for `simforge serve`: `info` by default
/// (the server's start, stop and warnings), debug with `-v`.
pub fn init_server(verbose: u8, format: LogFormat) {
    install(
        match verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        },
        format,
    );
}

/// Logs at `level` unless `RUST_LOG` says otherwise, to stderr, in `format`.
fn install(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
