//! The `openrouter-proxy` binary: parse the command line, run, report an error once.

use std::process::ExitCode;

fn main() -> ExitCode {
    match openrouter_proxy::run(std::env::args().skip(1).collect()) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("openrouter-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}
