//! `vvp-emulator`: a local Ververica Platform OpenAPI (2022-07-18) server that speaks the
//! exact wire protocol, for tests and dry runs. See the library.

use clap::Parser;
use vvp_emulator::{Args, serve};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let listen = args.listen.clone();
    let cfg = match args.config() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(&listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("vvp-emulator listening on {addr}"),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match serve(cfg, listener, shutdown).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
