//! CPU of the two steps per poll that grow with the series (run by hand: `cargo bench -p
//! common`): the accumulator turning 10k datapoints into counters, and rendering 10k usage
//! series into the text format (and gzip) for publishing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::accumulator::{Accumulator, AccumulatorSettings, Now};
use common::exposition::UsageRenderer;
use common::gzip;
use common::pricing::Pricing;
use common::source::{ErrorType, Sample, SampleKind, SeriesLabels, TokenType, Window};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

/// Counts heap bytes held, to say where memory goes (printed, never asserted).
struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let held = HELD.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(held, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Cloud series for the apply bench: four datapoints per minute each, 10k in all.
const APPLY_SERIES: usize = 2_500;
/// Cloud series for the render bench: six counters each (four kinds, two costs), ~10k.
const RENDER_SERIES: usize = 1_700;
const START: i64 = 1_800_000_000;

fn accumulator() -> Accumulator {
    let settings = AccumulatorSettings {
        cloud: "aws".into(),
        lookback_secs: 600,
        max_backfill_secs: 3 * 3600,
        max_series: 100_000,
        tenants: Vec::new(),
        zero_hold_secs: 15,
        series_ttl_secs: 86_400,
        max_value_per_minute: 1e12,
    };
    Accumulator::new(
        settings,
        Pricing::load("aws", None).expect("bundled catalog"),
    )
}

/// One minute of datapoints: input and output tokens, invocations and throttles per series.
fn minute(series: usize, period: i64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(series * 4);
    for i in 0..series {
        let labels = SeriesLabels {
            account: "123456789012".into(),
            region: ["us-east-1", "us-west-2", "eu-west-1"][i % 3].into(),
            model: "anthropic.claude-3-5-sonnet-20240620-v1:0".into(),
            deployment: format!("load-{i}"),
            billing: Default::default(),
        };
        let id = format!("series-{i}");
        let v = (i as f64 + (period / 60) as f64) * 3.0;
        for (kind, value) in [
            (SampleKind::Tokens(TokenType::Input), v * 100.0),
            (SampleKind::Tokens(TokenType::Output), v * 10.0),
            (SampleKind::Invocations, v),
            (SampleKind::Errors(ErrorType::Throttled), 1.0),
        ] {
            out.push(Sample::new(id.clone(), labels.clone(), kind, period, value));
        }
    }
    out
}

fn window(period: i64) -> Window {
    Window {
        start: period,
        end: period + 60,
        period: 60,
        backfill_start: period,
    }
}

fn now(t: i64) -> Now {
    Now {
        wall: t,
        uptime: t - START + 600,
    }
}

fn apply(c: &mut Criterion) {
    let mut acc = accumulator();
    // The baseline poll, then steady state: every iteration is the next minute's poll.
    let mut period = START;
    acc.apply(
        "scope",
        window(period),
        &minute(APPLY_SERIES, period),
        now(period + 61),
    );
    c.bench_function("accumulator apply, 10k datapoints", |b| {
        b.iter_batched(
            // Every iteration is the next minute's poll: 10k new datapoints to count.
            || {
                period += 60;
                (period, minute(APPLY_SERIES, period))
            },
            |(p, samples)| black_box(acc.apply("scope", window(p), &samples, now(p + 61))),
            BatchSize::LargeInput,
        )
    });
}

fn render(c: &mut Criterion) {
    let before = HELD.load(Ordering::Relaxed);
    let mut acc = accumulator();
    let mut peak = 0;
    let mut sample_bytes = 0;
    for m in 0..10 {
        let p = START + 60 * m;
        let at = HELD.load(Ordering::Relaxed);
        let samples = minute(RENDER_SERIES, p);
        sample_bytes = HELD.load(Ordering::Relaxed) - at;
        PEAK.store(HELD.load(Ordering::Relaxed), Ordering::Relaxed);
        let at = HELD.load(Ordering::Relaxed);
        acc.apply("scope", window(p), &samples, now(p + 61));
        peak = peak.max(PEAK.load(Ordering::Relaxed) - at);
        acc.publish(now(p + 120));
        acc.shown(now(p + 120));
    }
    let held = HELD.load(Ordering::Relaxed) - before;
    let renderer = UsageRenderer::new(&common::config::Config::default());
    let mut text = Vec::new();
    renderer.render_into(&acc, &mut text);
    eprintln!(
        "{} usage series from {RENDER_SERIES} cloud series, 10 minutes of revisions: accumulator holds {:.1} MiB (one poll's apply allocates {:.1} MiB more at its peak); one minute of samples from a source {:.1} MiB ({} bytes per datapoint); text {:.1} MiB",
        acc.counters().len() + acc.gauges().len(),
        mib(held),
        mib(peak),
        mib(sample_bytes),
        sample_bytes / (RENDER_SERIES * 4),
        mib(text.len())
    );
    c.bench_function("render 10k usage series (text)", |b| {
        b.iter(|| {
            text.clear();
            renderer.render_into(&acc, &mut text);
            black_box(text.len())
        })
    });
    let mut gz = 0;
    c.bench_function("gzip 10k usage series (publish level)", |b| {
        b.iter(|| {
            gz = gzip::Deflated::new(&text, gzip::PUBLISH_LEVEL, gz)
                .raw
                .len();
            black_box(gz)
        })
    });
    eprintln!("gzip: {gz} bytes");
}

/// What every scrape does besides cloning the published bytes: render the self-metrics and,
/// for gzip, compress them as the head of the response's one member.
fn per_scrape(c: &mut Criterion) {
    let m = common::metrics::SelfMetrics::new("aws", "bench");
    for api in [
        "cloudwatch.GetMetricData",
        "cloudwatch.ListMetrics",
        "bedrock.ListInferenceProfiles",
    ] {
        for outcome in ["success", "error", "throttled"] {
            m.api_requests.with_label_values(&[api, outcome]).inc();
        }
        m.api_duration.with_label_values(&[api]).observe(0.2);
        m.circuit_state
            .with_label_values(&[api, "123456789012/us-east-1"])
            .set(0);
    }
    for target in ["123456789012/us-east-1", "123456789012/us-west-2"] {
        m.target_up.with_label_values(&[target]).set(1);
        m.target_last_success
            .with_label_values(&[target])
            .set(1.8e9);
    }
    m.poll_duration.observe(1.2);
    let mut text = Vec::new();
    m.render_into(&mut text);
    eprintln!("self-metrics: {} bytes of text", text.len());
    let usage = gzip::Deflated::new(b"llm_tokens_total 1\n", gzip::PUBLISH_LEVEL, 0);
    c.bench_function("self-metrics per scrape (render + stored gzip head)", |b| {
        b.iter(|| {
            let mut text = Vec::with_capacity(16 * 1024);
            m.render_into(&mut text);
            let parts = gzip::member_around(&text, &usage);
            black_box(parts[0].len())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = apply, render, per_scrape
}
criterion_main!(benches);
