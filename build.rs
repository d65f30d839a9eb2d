//! Compiles `proto/*.proto` with a pure-Rust parser (protox), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/wire.proto",
        "proto/state.proto",
        "proto/group.proto",
        "proto/group_state.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let mut config = prost_build::Config::new();
    // Key material never goes into a `bytes::Bytes` (it cannot be wiped); plain Vec<u8> is
    // zeroized by the domain types that take it over.
    config.skip_debug(["."]);
    config.compile_fds(fds)?;
    Ok(())
}
