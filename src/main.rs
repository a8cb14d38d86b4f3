//! `keepnet-export`: see `keepnet-export --help`.

fn main() -> std::process::ExitCode {
    keepnet_export::main()
}
