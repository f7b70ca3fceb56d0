//! Persist, then publish. After polls change the accumulator, the publisher takes one
//! consistent snapshot under the accumulator's lock (the state file's bytes and the usage
//! exposition), writes the state file, and only then makes the exposition visible to scrapes.
//! So no value a scrape has seen is ever higher than what a restart restores, even after a
//! kill -9 or an OOM at any moment; and a scrape never waits for a poll or sees half of one.
//!
//! The published form is ready gzip bytes ([`Exposition`]), swapped in whole: a scrape clones
//! a reference-counted buffer, so it never copies, renders or compresses the usage series and
//! never waits for a poll. The exposition is rendered and compressed into buffers sized from
//! the last publish; only the compressed form is kept, because Prometheus always asks for
//! gzip and the plain text is 20 times larger (2.4 MB at 10k series). The plain form is
//! inflated on the first scrape that asks for it and kept until the next publish.
//!
//! Once an exposition is out, the accumulator is told ([`Accumulator::shown`]): a new
//! counter's zero is held for `poll_interval` from that moment, so a slow poll or a slow
//! write never lets its first value out without the zero before it.
//!
//! One publisher writes the state file, serialized by a lock, so the shutdown's last write
//! can never race an in-flight one. While writes fail, nothing new is published: counters
//! freeze, `/-/ready` answers 503 and `llm_exporter_state_writes_total{outcome="error"}` grows.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::accumulator::{write_atomically, Accumulator, Now};
use crate::base::{lock, read, write};
use crate::exposition::UsageRenderer;
use crate::gzip;
use crate::metrics::SelfMetrics;

/// The usage exposition as scrapes serve it: compressed ([`gzip::Deflated`], the tail of every
/// gzip response), and the plain text once a scrape has asked for it.
#[derive(Debug)]
pub struct Exposition {
    pub deflated: gzip::Deflated,
    plain: OnceLock<Bytes>,
}

impl Default for Exposition {
    fn default() -> Self {
        Exposition::new(gzip::Deflated::new(b"", gzip::PUBLISH_LEVEL, 0))
    }
}

impl Exposition {
    fn new(deflated: gzip::Deflated) -> Exposition {
        Exposition {
            deflated,
            plain: OnceLock::new(),
        }
    }

    /// The text format, inflated on first use (a few ms at 10k series) and kept until the
    /// next publish.
    pub fn plain(&self) -> Bytes {
        self.plain
            .get_or_init(|| match self.deflated.inflate() {
                Ok(text) => Bytes::from(text),
                // Our own deflate cannot be corrupt; serve nothing rather than half.
                Err(e) => {
                    tracing::error!(error = %e, "inflating the published exposition failed");
                    Bytes::new()
                }
            })
            .clone()
    }
}

/// The sizes of the last published exposition: the next one is rendered into buffers of that
/// size, so it is written without growing (and copying) them, and handed over as it is.
#[derive(Clone, Copy, Default)]
struct Scratch {
    text: usize,
    gzip: usize,
}

pub struct Publisher {
    accumulator: Arc<Mutex<Accumulator>>,
    metrics: Arc<SelfMetrics>,
    /// Replaced when the config is reloaded (tenants, budgets).
    renderer: RwLock<UsageRenderer>,
    state_file: Option<PathBuf>,
    /// The usage exposition scrapes serve.
    published: RwLock<Arc<Exposition>>,
    /// False while the state file cannot be written.
    state_ok: AtomicBool,
    requested: Notify,
    /// One write at a time: the loop's and the shutdown's (with the last sizes).
    writing: tokio::sync::Mutex<Scratch>,
}

/// Hands memory freed since the last publish back to the OS. A poll builds its samples and
/// revision lookups on the heap and frees them; glibc keeps freed pages in its per-thread
/// arenas, so without this the RSS shows the peak of the largest poll (or scrape burst) ever
/// seen instead of what is held. Once per publish it costs a walk of the free lists.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns unused pages of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Publisher {
    pub fn new(
        accumulator: Arc<Mutex<Accumulator>>,
        metrics: Arc<SelfMetrics>,
        renderer: UsageRenderer,
        state_file: Option<PathBuf>,
    ) -> Publisher {
        Publisher {
            accumulator,
            metrics,
            renderer: RwLock::new(renderer),
            state_file,
            published: RwLock::new(Arc::new(Exposition::default())),
            state_ok: AtomicBool::new(true),
            requested: Notify::new(),
            writing: tokio::sync::Mutex::new(Scratch::default()),
        }
    }

    /// Renders with `renderer` from the next publish on (a reloaded config's budgets).
    pub fn set_renderer(&self, renderer: UsageRenderer) {
        *write(&self.renderer) = renderer;
    }

    /// Asks for a publish; requests made while one runs are served by one more.
    pub fn request(&self) {
        self.requested.notify_one();
    }

    /// Publishes whenever asked, until the task is dropped.
    pub async fn run(self: Arc<Self>) {
        loop {
            self.requested.notified().await;
            self.publish().await;
        }
    }

    /// Snapshot, persist, publish. Returns false when the state file could not be written
    /// (nothing new is published then).
    pub async fn publish(&self) -> bool {
        let mut one_at_a_time = self.writing.lock().await;
        let now = Now::system();
        let sizes = *one_at_a_time;
        // A little room for growth since the last publish.
        let mut text = Vec::with_capacity(sizes.text + sizes.text / 16 + 4096);
        let state = {
            let mut acc = lock(&self.accumulator);
            acc.publish(now);
            let state = self.state_file.as_ref().map(|_| acc.state_bytes(now));
            read(&self.renderer).render_into(&acc, &mut text);
            state
        };
        if let (Some(path), Some(bytes)) = (self.state_file.clone(), state) {
            let written =
                tokio::task::spawn_blocking(move || write_atomically(&path, &bytes)).await;
            let error = match written {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(format!("state file writer panicked: {e}")),
            };
            let outcome = if error.is_some() { "error" } else { "success" };
            self.metrics
                .state_writes
                .with_label_values(&[outcome])
                .inc();
            if let Some(e) = error {
                if self.state_ok.swap(false, Ordering::AcqRel) {
                    tracing::error!(error = %e, "cannot write the state file: counters are no longer published (so a restart can never show less than a scrape saw) and /-/ready answers 503 until a write succeeds");
                }
                return false;
            }
            if !self.state_ok.swap(true, Ordering::AcqRel) {
                tracing::info!("state file written again: publishing resumed");
            }
        }
        // Compression is CPU work that grows with the series: off the async workers.
        // The buffers become the published bytes without a copy; nothing is kept beside them.
        let compressed = tokio::task::spawn_blocking(move || {
            let deflated = gzip::Deflated::new(
                &text,
                gzip::PUBLISH_LEVEL,
                sizes.gzip + sizes.gzip / 8 + 1024,
            );
            let sizes = Scratch {
                text: text.len(),
                gzip: deflated.raw.len(),
            };
            // The text is dropped here: only the compressed form stays resident.
            drop(text);
            (Exposition::new(deflated), sizes)
        })
        .await;
        let exposition = match compressed {
            Ok((exposition, sizes)) => {
                *one_at_a_time = sizes;
                exposition
            }
            // A panic in the compressor: nothing new to publish (the buffers are renewed).
            Err(e) => {
                tracing::error!(error = %e, "compressing the exposition failed");
                return false;
            }
        };
        *write(&self.published) = Arc::new(exposition);
        // Only now can a scrape see what this exposition shows for the first time (a new
        // counter's zero): its hold starts here, however long the poll or the write took.
        lock(&self.accumulator).shown(Now::system());
        // Off the async workers: it holds each arena's lock while it walks it.
        tokio::task::spawn_blocking(release_free_memory);
        true
    }

    /// The usage exposition last published.
    pub fn exposition(&self) -> Arc<Exposition> {
        read(&self.published).clone()
    }

    /// The usage exposition last published, as text (tests and tools).
    pub fn usage(&self) -> String {
        String::from_utf8_lossy(&self.exposition().plain()).into_owned()
    }

    /// False while the state file cannot be written.
    pub fn state_ok(&self) -> bool {
        self.state_ok.load(Ordering::Acquire)
    }
}
