//! The integration tests of `testkit` (the repository's monitoring stack, deployment files and
//! README examples, run live), in one binary: one link of the dependencies instead of one per
//! file. Each file is a module; `cargo test -p testkit --test testkit <module>` runs one.

mod support;

mod deploy;
mod readme_examples;
mod single;
mod stack;
