//! Exit codes and the error that carries one: the engine's, so that a company's code in the
//! summary and the process's exit code are the same table.

pub use keepnet_export_core::exit::*;
