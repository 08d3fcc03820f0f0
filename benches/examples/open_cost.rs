//! Cost of opening the embedded store in a fresh process (what every CNI exec pays).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
use std::time::Instant;

use calico_datastore::{DatastoreConfig, connect};
use calico_model::Kind;

fn main() {
    let t0 = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t_rt = t0.elapsed();
    rt.block_on(async {
        let path = std::env::args().nth(1).expect("path");
        let t = Instant::now();
        let ds = connect(&DatastoreConfig::Embedded { path: path.into() })
            .await
            .unwrap();
        let t_open = t.elapsed();
        let t = Instant::now();
        ds.list(Kind::IPPool, None).await.unwrap();
        let t_list1 = t.elapsed();
        let t = Instant::now();
        ds.list(Kind::IPPool, None).await.unwrap();
        let t_list2 = t.elapsed();
        println!("runtime {t_rt:?} open {t_open:?} first list {t_list1:?} second list {t_list2:?}");
    });
}
