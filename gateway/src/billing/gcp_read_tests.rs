//! Nested billing Parquet written with Arrow, read back by `gcp_read`.
use super::*;
use arrow_array::builder::{
    Float64Builder, ListBuilder, StringBuilder, StructBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, Fields as ArrowFields, Schema};
use object_store::memory::InMemory;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::ArrowWriter;

fn kv() -> ArrowFields {
    ArrowFields::from(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("value", DataType::Utf8, true),
    ])
}

fn kv_list() -> ListBuilder<StructBuilder> {
    ListBuilder::new(StructBuilder::from_fields(kv(), 0))
}

fn push_kv(b: &mut ListBuilder<StructBuilder>, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        let s = b.values();
        s.field_builder::<StringBuilder>(0).unwrap().append_value(k);
        s.field_builder::<StringBuilder>(1).unwrap().append_value(v);
        s.append(true);
    }
    b.append(true);
}

/// Rows: (project or None, service, sku, cost, credits, currency, labels, project labels).
#[allow(clippy::type_complexity)]
fn standard(
    rows: &[(
        Option<&str>,
        &str,
        &str,
        f64,
        &[f64],
        &str,
        &[(&str, &str)],
        &[(&str, &str)],
    )],
) -> Vec<u8> {
    let desc = || ArrowFields::from(vec![Field::new("description", DataType::Utf8, true)]);
    let mut start = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let project_fields = ArrowFields::from(vec![
        Field::new("id", DataType::Utf8, true),
        Field::new(
            "labels",
            DataType::List(Arc::new(Field::new("item", DataType::Struct(kv()), true))),
            true,
        ),
    ]);
    let mut project = StructBuilder::new(
        project_fields,
        vec![Box::new(StringBuilder::new()), Box::new(kv_list())],
    );
    let mut service = StructBuilder::from_fields(desc(), 0);
    let mut sku = StructBuilder::from_fields(desc(), 0);
    let mut cost = Float64Builder::new();
    let mut currency = StringBuilder::new();
    let credit_fields = ArrowFields::from(vec![Field::new("amount", DataType::Float64, true)]);
    let mut credits = ListBuilder::new(StructBuilder::from_fields(credit_fields, 0));
    let mut cost_type = StringBuilder::new();
    let mut labels = kv_list();
    for (p, svc, s, c, cr, cur, l, pl) in rows {
        start.append_value(1_793_500_000_000_000);
        project
            .field_builder::<StringBuilder>(0)
            .unwrap()
            .append_option(*p);
        push_kv(
            project
                .field_builder::<ListBuilder<StructBuilder>>(1)
                .unwrap(),
            pl,
        );
        project.append(p.is_some());
        service
            .field_builder::<StringBuilder>(0)
            .unwrap()
            .append_value(svc);
        service.append(true);
        sku.field_builder::<StringBuilder>(0)
            .unwrap()
            .append_value(s);
        sku.append(true);
        cost.append_value(*c);
        currency.append_value(cur);
        for a in *cr {
            let it = credits.values();
            it.field_builder::<Float64Builder>(0)
                .unwrap()
                .append_value(*a);
            it.append(true);
        }
        credits.append(true);
        cost_type.append_value("regular");
        push_kv(&mut labels, l);
    }
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("usage_start_time", Arc::new(start.finish())),
        ("project", Arc::new(project.finish())),
        ("service", Arc::new(service.finish())),
        ("sku", Arc::new(sku.finish())),
        ("cost", Arc::new(cost.finish())),
        ("currency", Arc::new(currency.finish())),
        ("credits", Arc::new(credits.finish())),
        ("cost_type", Arc::new(cost_type.finish())),
        ("labels", Arc::new(labels.finish())),
    ];
    let schema = Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

async fn read(bytes: Vec<u8>, tag: Option<&str>) -> Result<Sums, String> {
    let store = Arc::new(InMemory::new());
    let path = Path::from("b/invoice_month=202611/run=x/part-000000000000.parquet");
    store.put(&path, PutPayload::from(bytes)).await.unwrap();
    read_file(store, &path, Format::GcpStandard, tag).await
}

fn cost_of(s: &Sums, model: &str) -> f64 {
    s.cells
        .iter()
        .filter(|(k, _)| k.model == model)
        .map(|(_, c)| c.cost)
        .sum()
}

#[tokio::test]
async fn nested_columns_credits_and_labels() {
    const PRO: &str = "Gemini 2.5 Pro Text Input - Predictions";
    let bytes = standard(&[
        (
            Some("proj-a"),
            "Vertex AI",
            PRO,
            3.0,
            &[-1.0, -0.25],
            "USD",
            &[("team", "a")],
            &[],
        ),
        // No usage label: the project's label names the tenant.
        (
            Some("proj-a"),
            "Vertex AI",
            PRO,
            1.0,
            &[],
            "USD",
            &[],
            &[("team", "b")],
        ),
        // A row without a project (a null RECORD) still counts, with no account.
        (None, "Vertex AI", PRO, 0.5, &[], "USD", &[], &[]),
        (
            Some("proj-a"),
            "Compute Engine",
            "N1 Core",
            9.0,
            &[],
            "USD",
            &[("team", "a")],
            &[],
        ),
        (
            Some("proj-a"),
            "Vertex AI",
            PRO,
            7.0,
            &[],
            "EUR",
            &[("team", "a")],
            &[],
        ),
    ]);
    let s = read(bytes, Some("team")).await.unwrap();
    assert_eq!(s.rows_read, 5);
    assert!((cost_of(&s, "Gemini 2.5 Pro") - (1.75 + 1.0 + 0.5)).abs() < 1e-9);
    let tenant = |t: Option<&str>| -> f64 {
        s.cells
            .iter()
            .filter(|(k, _)| k.tenant.as_deref() == t)
            .map(|(_, c)| c.cost)
            .sum()
    };
    assert!((tenant(Some("a")) - 1.75).abs() < 1e-9);
    assert!((tenant(Some("b")) - 1.0).abs() < 1e-9);
    assert!(s.cells.keys().any(|k| k.account.is_empty()));
    assert_eq!(s.other_currency.get("EUR"), Some(&1));
}

#[tokio::test]
async fn bad_files_are_named_with_their_reason() {
    let e = read(b"PAR1 not parquet".to_vec(), None).await.unwrap_err();
    assert!(
        e.contains("part-000000000000.parquet") && e.contains("not a readable Parquet file"),
        "{e}"
    );
    // A file written without the credits column would bill at list price: refused.
    let mut bytes = standard(&[(
        Some("p"),
        "Vertex AI",
        "Gemini 2.5 Pro Text Input",
        1.0,
        &[],
        "USD",
        &[],
        &[],
    )]);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes.clone()),
    )
    .unwrap();
    let batch = reader.build().unwrap().next().unwrap().unwrap();
    let i = batch.schema().index_of("credits").unwrap();
    let mut cols = batch.columns().to_vec();
    let mut fields: Vec<_> = batch.schema().fields().iter().cloned().collect();
    cols.remove(i);
    fields.remove(i);
    let without = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
    bytes.clear();
    let mut w = ArrowWriter::try_new(&mut bytes, without.schema(), None).unwrap();
    w.write(&without).unwrap();
    w.close().unwrap();
    let e = read(bytes, None).await.unwrap_err();
    assert!(e.contains("column credits.amount is missing"), "{e}");
}
