//! Remote write 2.0 (io.prometheus.write.v2.Request) with a valid snappy
//! frame around fuzzed protobuf bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|protobuf: &[u8]| {
    let Ok(body) = snap::raw::Encoder::new().compress_vec(protobuf) else {
        return;
    };
    closeloop_fuzz::check_request(
        "POST",
        "/api/v1/write",
        &[
            (
                "content-type",
                "application/x-protobuf;proto=io.prometheus.write.v2.Request",
            ),
            ("content-encoding", "snappy"),
            ("x-prometheus-remote-write-version", "2.0.0"),
        ],
        &body,
    );
});
