//! A CSV (optionally gzip) object read row by row on a blocking thread, its bytes fetched as
//! the reader asks for them: the csv and flate2 readers are blocking, so the object's byte
//! stream is bridged to `std::io::Read` rather than loaded whole.

use std::io::Read;
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::ledger::Sums;
use super::read::short;

/// Reads a CSV object's rows into `Sums` on a blocking thread: `start` gets the header and
/// returns the per-row handler (or the error naming a missing column); every record read is
/// counted in `rows_read`, and a malformed one fails the object, named.
pub async fn read_rows<F>(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    gzip: bool,
    start: impl FnOnce(&csv::StringRecord) -> Result<F, String> + Send + 'static,
) -> Result<Sums, String>
where
    F: FnMut(&csv::StringRecord, &mut Sums),
{
    let name = path.clone();
    read_blocking(store, path, gzip, move |input| {
        let mut rdr = csv::ReaderBuilder::new().flexible(false).from_reader(input);
        let headers = rdr
            .headers()
            .map_err(|e| format!("{name}: not a readable CSV file: {}", short(&e.to_string())))?
            .clone();
        let mut row = start(&headers)?;
        let mut sums = Sums::default();
        let mut rec = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut rec) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(format!("{name}: {}", short(&e.to_string()))),
            }
            sums.rows_read += 1;
            row(&rec, &mut sums);
        }
        Ok(sums)
    })
    .await
}

/// Runs `read` over the object's bytes (gunzipped when `gzip`) on a blocking thread.
async fn read_blocking<T: Send + 'static>(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    gzip: bool,
    read: impl FnOnce(Box<dyn Read>) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let got = store
        .get(path)
        .await
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let stream = got.into_stream().map(|r| r.map_err(std::io::Error::other));
    let reader = tokio_util::io::StreamReader::new(stream);
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _guard = handle.enter();
        let bridge = tokio_util::io::SyncIoBridge::new(reader);
        let input: Box<dyn Read> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(bridge))
        } else {
            Box::new(bridge)
        };
        read(input)
    })
    .await
    .map_err(|e| format!("CSV reader task: {e}"))?
}
