//! The gateway's integration tests, one binary. Against the live stack ([`stack`]): every
//! REST endpoint ([`answers`]) and every MCP tool equal the same PromQL asked of Prometheus
//! directly; tenant isolation, one upstream for every cloud, a disabled cloud, health and the
//! breaker, the rate limit and the gateway's metrics (the modules of [`stack`]). Besides it:
//! the documented single-Prometheus set-up and an abusive tenant on it ([`single`]), billing
//! exports ([`billing`]) and the command line ([`cli`]).
//!
//! libtest starts tests in name order, as many at once as there are cores: [`answers`] comes
//! first and starts the live stack on one thread while the others run [`billing`], [`cli`]
//! and [`single`]; the live stack's other tests come last, when it is up.

mod answers;
mod billing;
mod cli;
mod single;
mod stack;
mod support;
