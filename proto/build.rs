//! Compiles `metadata.proto` with protox (pure Rust, no `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=metadata.proto");
    let fds = protox::compile(["metadata.proto"], ["."])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
