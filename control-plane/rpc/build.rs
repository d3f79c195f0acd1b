//! Compiles the control plane's services from `proto/` with protox (pure Rust, no
//! `protoc`) and tonic's code generator.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["quorum.proto", "controller.proto"];
    for p in protos {
        println!("cargo:rerun-if-changed=../../proto/{p}");
    }
    let fds = protox::compile(protos, ["../../proto"])?;
    tonic_prost_build::configure().bytes(".").compile_fds(fds)?;
    Ok(())
}
