//! Remote write 1.0 with a valid snappy frame around fuzzed protobuf
//! bytes, so the fuzzer reaches the WriteRequest walk and label checks
//! instead of stopping at snappy.
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
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "snappy"),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ],
        &body,
    );
});
