//! A small fake of the Cloud Storage XML API, serving a local folder as buckets
//! (`<dir>/<bucket>/<object name>`), for the gateway's `gs://` reads through `object_store`.
//!
//! Written from the XML API reference: "List objects"
//! (https://cloud.google.com/storage/docs/xml-api/get-bucket-list: `GET /<bucket>?list-type=2`
//! with `prefix`, `max-keys`, `continuation-token`; a `ListBucketResult` with `Contents`
//! (`Key`, `Generation`, `LastModified`, `ETag`, `Size`), `IsTruncated` and
//! `NextContinuationToken`) and "Download an object"
//! (https://cloud.google.com/storage/docs/xml-api/get-object-download: `GET`/`HEAD
//! /<bucket>/<object>`, `Range: bytes=a-b` answered 206 with `Content-Range`, `Last-Modified`,
//! `ETag`, `x-goog-generation`; a missing object is 404 `NoSuchKey`). `object_store` 0.14 speaks
//! this API (its GCS client lists with `list-type=2` and downloads with ranges); PyPI's
//! `gcp-storage-emulator` serves only the JSON API's listing, so it cannot stand in.
//! Pages hold `page` objects (Cloud Storage's own default is 1,000) so a test sees pagination.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Method, Response, StatusCode};
use axum::Router;

#[derive(Default)]
pub struct Counts {
    pub list_pages: AtomicU64,
    pub ranged_gets: AtomicU64,
    pub whole_gets: AtomicU64,
    pub bytes_served: AtomicU64,
}

pub struct FakeGcs {
    pub url: String,
    pub counts: Arc<Counts>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Object names under `dir/bucket/`, sorted (Cloud Storage lists in lexicographic order).
fn objects(dir: &Path, bucket: &str) -> Vec<(String, PathBuf)> {
    let base = dir.join(bucket);
    let mut out = Vec::new();
    let mut stack = vec![base.clone()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.strip_prefix(&base).unwrap().to_string_lossy().to_string();
                out.push((name, p));
            }
        }
    }
    out.sort();
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn meta(p: &Path) -> (u64, chrono::DateTime<chrono::Utc>, String) {
    let m = std::fs::metadata(p).unwrap();
    let t: chrono::DateTime<chrono::Utc> = m.modified().unwrap().into();
    let generation = t.timestamp_micros().to_string();
    (m.len(), t, generation)
}

fn error(status: StatusCode, code: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(Body::from(format!(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
        )))
        .unwrap()
}

fn query(q: &str, key: &str) -> Option<String> {
    q.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list(dir: &Path, bucket: &str, q: &str, page: usize, counts: &Counts) -> Response<Body> {
    if query(q, "list-type").as_deref() != Some("2") {
        return error(StatusCode::BAD_REQUEST, "InvalidArgument");
    }
    counts.list_pages.fetch_add(1, Ordering::Relaxed);
    let prefix = query(q, "prefix").unwrap_or_default();
    let max = query(q, "max-keys")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(1000)
        .min(page);
    // The token is the last key of the previous page (opaque to clients).
    let after = query(q, "continuation-token")
        .or_else(|| query(q, "start-after"))
        .unwrap_or_default();
    let all: Vec<(String, PathBuf)> = objects(dir, bucket)
        .into_iter()
        .filter(|(n, _)| n.starts_with(&prefix) && n.as_str() > after.as_str())
        .collect();
    let truncated = all.len() > max;
    let shown = &all[..all.len().min(max)];
    let mut body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max}</MaxKeys><IsTruncated>{truncated}</IsTruncated>",
        xml_escape(bucket),
        xml_escape(&prefix),
        shown.len()
    );
    for (name, p) in shown {
        let (size, t, generation) = meta(p);
        body.push_str(&format!(
            "<Contents><Key>{}</Key><Generation>{generation}</Generation><MetaGeneration>1</MetaGeneration><LastModified>{}</LastModified><ETag>\"{generation}\"</ETag><Size>{size}</Size></Contents>",
            xml_escape(name),
            t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        ));
    }
    if truncated {
        let last = &shown[shown.len() - 1].0;
        body.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            xml_escape(last)
        ));
    }
    body.push_str("</ListBucketResult>");
    Response::builder()
        .header(header::CONTENT_TYPE, "application/xml; charset=UTF-8")
        .body(Body::from(body))
        .unwrap()
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` -> the inclusive range within `size`.
fn range(h: &str, size: u64) -> Option<(u64, u64)> {
    let spec = h.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => (size.saturating_sub(n.parse().ok()?), size.checked_sub(1)?),
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.checked_sub(1)?),
        ),
    };
    (start <= end && end < size).then_some((start, end))
}

fn object(
    dir: &Path,
    bucket: &str,
    name: &str,
    req: &axum::extract::Request,
    counts: &Counts,
) -> Response<Body> {
    let p = dir.join(bucket).join(name);
    if name.split('/').any(|s| s == ".." || s.is_empty()) || !p.is_file() {
        return error(StatusCode::NOT_FOUND, "NoSuchKey");
    }
    let (size, t, generation) = meta(&p);
    let b = Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(
            header::LAST_MODIFIED,
            t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        )
        .header(header::ETAG, format!("\"{generation}\""))
        .header("x-goog-generation", generation)
        .header(header::ACCEPT_RANGES, "bytes");
    if req.method() == Method::HEAD {
        return b
            .header(header::CONTENT_LENGTH, size)
            .body(Body::empty())
            .unwrap();
    }
    let data = std::fs::read(&p).unwrap();
    match req
        .headers()
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
    {
        Some(h) => {
            let Some((s, e)) = range(h, size) else {
                return error(StatusCode::RANGE_NOT_SATISFIABLE, "InvalidRange");
            };
            counts.ranged_gets.fetch_add(1, Ordering::Relaxed);
            counts.bytes_served.fetch_add(e - s + 1, Ordering::Relaxed);
            b.status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{size}"))
                .body(Body::from(data[s as usize..=e as usize].to_vec()))
                .unwrap()
        }
        None => {
            counts.whole_gets.fetch_add(1, Ordering::Relaxed);
            counts.bytes_served.fetch_add(size, Ordering::Relaxed);
            b.body(Body::from(data)).unwrap()
        }
    }
}

impl FakeGcs {
    /// Serves `dir` (one folder per bucket) on 127.0.0.1, `page` objects per listing page.
    pub fn start(dir: &Path, page: usize) -> FakeGcs {
        let dir = dir.to_path_buf();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let app = Router::new().fallback(move |req: axum::extract::Request| {
            let dir = dir.clone();
            let c = c.clone();
            async move {
                if req.method() != Method::GET && req.method() != Method::HEAD {
                    return error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed");
                }
                let path = percent_decode(req.uri().path().trim_start_matches('/'));
                let q = req.uri().query().unwrap_or("").to_string();
                match path.split_once('/') {
                    None if !path.is_empty() => list(&dir, &path, &q, page, &c),
                    Some((bucket, name)) if !name.is_empty() => {
                        object(&dir, bucket, name, &req, &c)
                    }
                    _ => error(StatusCode::BAD_REQUEST, "InvalidArgument"),
                }
            }
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(l, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        FakeGcs {
            url,
            counts,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

#[test]
fn ranges_within_the_object() {
    assert_eq!(range("bytes=0-9", 100), Some((0, 9)));
    assert_eq!(range("bytes=90-", 100), Some((90, 99)));
    assert_eq!(range("bytes=-10", 100), Some((90, 99)));
    assert_eq!(range("bytes=95-200", 100), Some((95, 99)));
    assert_eq!(range("bytes=100-", 100), None);
    assert_eq!(percent_decode("a%2Fb%3D1"), "a/b=1");
}
