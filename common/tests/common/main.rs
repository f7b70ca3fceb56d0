//! The integration tests of `common`, in one binary: one link of the crate's dependencies
//! instead of one per file. Each file is a module; `cargo test -p common --test common <module>`
//! runs one of them.

mod fuzz_inputs;
mod fuzz_state_file;
mod fuzz_support;
mod readme_contract;
