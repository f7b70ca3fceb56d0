//! Parquet's async reader over an object store: byte ranges fetched as the reader asks for
//! them (the footer, then the projected columns' pages of one row group at a time).

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::FutureExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::read::short;

/// Footer bytes asked for at once (usually the whole footer in one request).
const FOOTER_HINT: usize = 64 * 1024;

pub struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl ObjectReader {
    pub fn new(store: Arc<dyn ObjectStore>, path: Path, size: u64) -> ObjectReader {
        ObjectReader { store, path, size }
    }
}

fn external(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(external)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(FOOTER_HINT))
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// The Parquet reader of one object, its footer read: an error names the object.
pub async fn open(
    store: Arc<dyn ObjectStore>,
    path: &Path,
) -> std::result::Result<ParquetRecordBatchStreamBuilder<ObjectReader>, String> {
    let meta = store
        .head(path)
        .await
        .map_err(|e| format!("{path}: {}", short(&e.to_string())))?;
    let reader = ObjectReader::new(store, path.clone(), meta.size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| {
            format!(
                "{path}: not a readable Parquet file: {}",
                short(&e.to_string())
            )
        })
}
