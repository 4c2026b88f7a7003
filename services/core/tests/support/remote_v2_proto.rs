//! prost messages declared by hand from the published Remote-Write 2.0
//! proto (services/core/tests/data/remote_v2.proto, from
//! shared/notes/remote_v2.proto), for tests to build requests the way a
//! sender does. `remote_write_v2.rs` checks their encoding against
//! `protoc --encode` of the same .proto byte for byte. `histograms` (tag 3,
//! left out of that file) is an opaque message so a test can send one.

#[derive(Clone, PartialEq, prost::Message)]
pub struct Request {
    #[prost(string, repeated, tag = "4")]
    pub symbols: Vec<String>,
    #[prost(message, repeated, tag = "5")]
    pub timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub histograms: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "4")]
    pub exemplars: Vec<Exemplar>,
    #[prost(message, optional, tag = "5")]
    pub metadata: Option<Metadata>,
    #[prost(int64, tag = "6")]
    pub created_timestamp: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Exemplar {
    #[prost(uint32, repeated, tag = "1")]
    pub labels_refs: Vec<u32>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct Metadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(uint32, tag = "3")]
    pub help_ref: u32,
    #[prost(uint32, tag = "4")]
    pub unit_ref: u32,
}

/// Builds a request with a symbols table, as Prometheus' sender does:
/// symbol 0 is "", each string once.
#[derive(Default)]
pub struct RequestBuilder {
    pub request: Request,
}

impl RequestBuilder {
    pub fn new() -> Self {
        RequestBuilder {
            request: Request {
                symbols: vec![String::new()],
                timeseries: vec![],
            },
        }
    }

    pub fn symbol(&mut self, s: &str) -> u32 {
        if let Some(i) = self.request.symbols.iter().position(|x| x == s) {
            return i as u32;
        }
        self.request.symbols.push(s.to_string());
        (self.request.symbols.len() - 1) as u32
    }

    pub fn refs(&mut self, labels: &[(&str, &str)]) -> Vec<u32> {
        labels
            .iter()
            .flat_map(|(n, v)| [self.symbol(n), self.symbol(v)])
            .collect()
    }

    pub fn series(&mut self, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> &mut TimeSeries {
        let labels_refs = self.refs(labels);
        self.request.timeseries.push(TimeSeries {
            labels_refs,
            samples: samples
                .iter()
                .map(|&(timestamp, value)| Sample { value, timestamp })
                .collect(),
            ..Default::default()
        });
        self.request.timeseries.last_mut().expect("just pushed")
    }
}
