//! The `openrouter-proxy` binary: parse the command line, run, report an error once and exit
//! with its code (2 for a usage error, 1 for any other failure).

use std::process::ExitCode;

fn main() -> ExitCode {
    match openrouter_proxy::run(std::env::args_os().skip(1).collect()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("openrouter-proxy: {error}");
            error.exit_code()
        }
    }
}
