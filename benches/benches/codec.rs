//! Decoding throughput: a 1,000-policy YAML file, and the same as JSON.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn decode(c: &mut Criterion) {
    let yaml = calico_benches::policy_stream(1000);
    let resources = calico_model::decode_yaml(&yaml).expect("bench input decodes");
    let json = calico_model::encode_json(&resources);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(yaml.len() as u64));
    g.bench_function("yaml_1000_policies", |b| {
        b.iter(|| calico_model::decode_yaml(black_box(&yaml)).map(|v| v.len()))
    });
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("json_1000_policies", |b| {
        b.iter(|| calico_model::decode_json(black_box(&json)).map(|v| v.len()))
    });
    g.finish();
    let mut g = c.benchmark_group("validate");
    g.bench_function("1000_policies", |b| {
        b.iter(|| {
            black_box(&resources)
                .iter()
                .filter(|r| r.validate().is_ok())
                .count()
        })
    });
    g.finish();
    let mut g = c.benchmark_group("encode");
    g.bench_function("yaml_1000_policies", |b| {
        b.iter(|| calico_model::encode_yaml(black_box(&resources)).len())
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
