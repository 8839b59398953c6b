//! The emulator's command line: a port in use is said plainly.

#[test]
fn a_port_in_use_is_an_error_message_not_a_debug_struct() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vvp-emulator"))
        .args(["--listen", &addr])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "id")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.starts_with(&format!("error: cannot listen on {addr}: ")), "{stderr}");
    assert!(!stderr.contains("Os {") && !stderr.contains("kind:"), "{stderr}");
}
