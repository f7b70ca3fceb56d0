//! The integration tests of the AWS exporter, in one binary: one link of the dependencies and
//! one build of `support` instead of one per file. Each file is a module;
//! `cargo test -p llm-exporter-aws --test aws <module>` runs one.

mod support;

mod body_cap;
mod cli;
mod credentials;
mod discovery;
mod drills;
mod http_edge;
mod levels;
mod localstack;
mod profiles;
mod restarts;
mod scopes;
mod tls;
