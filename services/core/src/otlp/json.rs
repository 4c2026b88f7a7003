//! OTLP's JSON mapping (the protobuf JSON mapping with OTLP's rules):
//! 64-bit integers come as decimal strings (numbers are accepted too),
//! doubles as numbers or the strings "NaN", "Infinity", "-Infinity", and
//! oneofs as whichever one key is present.

use super::{AnyValue, ArrayValue, KeyValue, KeyValueList, NumberDataPoint, NumberValue, Value};
use base64::Engine;
use serde::de::Error;
use serde::{Deserialize, Deserializer, Serializer};

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrString {
    Number(serde_json::Number),
    String(String),
}

fn u64_of<E: Error>(value: NumberOrString) -> Result<u64, E> {
    match value {
        NumberOrString::Number(n) => n
            .as_u64()
            .ok_or_else(|| E::custom(format!("{n} is not an unsigned 64-bit integer"))),
        NumberOrString::String(s) => s
            .parse()
            .map_err(|_| E::custom(format!("{s:?} is not an unsigned 64-bit integer"))),
    }
}

fn i64_of<E: Error>(value: NumberOrString) -> Result<i64, E> {
    match value {
        NumberOrString::Number(n) => n
            .as_i64()
            .ok_or_else(|| E::custom(format!("{n} is not a 64-bit integer"))),
        NumberOrString::String(s) => s
            .parse()
            .map_err(|_| E::custom(format!("{s:?} is not a 64-bit integer"))),
    }
}

fn f64_of<E: Error>(value: NumberOrString) -> Result<f64, E> {
    match value {
        NumberOrString::Number(n) => n
            .as_f64()
            .ok_or_else(|| E::custom(format!("{n} is not a double"))),
        NumberOrString::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other
                .parse()
                .map_err(|_| E::custom(format!("{other:?} is not a double"))),
        },
    }
}

pub fn u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    u64_of(NumberOrString::deserialize(d)?)
}

pub fn f64_any<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    f64_of(NumberOrString::deserialize(d)?)
}

pub fn opt_f64_any<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Option::<NumberOrString>::deserialize(d)?
        .map(f64_of)
        .transpose()
}

pub fn vec_u64_any<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
    Vec::<NumberOrString>::deserialize(d)?
        .into_iter()
        .map(u64_of)
        .collect()
}

pub fn vec_f64_any<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Vec::<NumberOrString>::deserialize(d)?
        .into_iter()
        .map(f64_of)
        .collect()
}

pub fn i64_as_string<S: Serializer>(value: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&value.to_string())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberDataPointJson {
    attributes: Vec<KeyValue>,
    time_unix_nano: Option<NumberOrString>,
    as_double: Option<NumberOrString>,
    as_int: Option<NumberOrString>,
    flags: u32,
}

impl TryFrom<NumberDataPointJson> for NumberDataPoint {
    type Error = String;

    fn try_from(json: NumberDataPointJson) -> Result<Self, String> {
        let time_unix_nano = json
            .time_unix_nano
            .map(u64_of::<serde_json::Error>)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or(0);
        let value = match (json.as_double, json.as_int) {
            (Some(d), _) => Some(NumberValue::AsDouble(
                f64_of::<serde_json::Error>(d).map_err(|e| e.to_string())?,
            )),
            (None, Some(i)) => Some(NumberValue::AsInt(
                i64_of::<serde_json::Error>(i).map_err(|e| e.to_string())?,
            )),
            (None, None) => None,
        };
        Ok(NumberDataPoint {
            attributes: json.attributes,
            time_unix_nano,
            value,
            flags: json.flags,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct AnyValueJson {
    string_value: Option<String>,
    bool_value: Option<bool>,
    int_value: Option<NumberOrString>,
    double_value: Option<NumberOrString>,
    array_value: Option<ArrayValue>,
    kvlist_value: Option<KeyValueList>,
    bytes_value: Option<String>,
}

impl TryFrom<AnyValueJson> for AnyValue {
    type Error = String;

    fn try_from(json: AnyValueJson) -> Result<Self, String> {
        let value = if let Some(s) = json.string_value {
            Some(Value::StringValue(s))
        } else if let Some(b) = json.bool_value {
            Some(Value::BoolValue(b))
        } else if let Some(i) = json.int_value {
            Some(Value::IntValue(
                i64_of::<serde_json::Error>(i).map_err(|e| e.to_string())?,
            ))
        } else if let Some(d) = json.double_value {
            Some(Value::DoubleValue(
                f64_of::<serde_json::Error>(d).map_err(|e| e.to_string())?,
            ))
        } else if let Some(a) = json.array_value {
            Some(Value::ArrayValue(a))
        } else if let Some(k) = json.kvlist_value {
            Some(Value::KvlistValue(k))
        } else if let Some(b) = json.bytes_value {
            // Plain protobuf JSON: bytes are base64 (hex is only for the
            // trace and span ids, which metrics points do not carry here).
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| format!("bytesValue is not base64: {e}"))?;
            Some(Value::BytesValue(bytes))
        } else {
            None
        };
        Ok(AnyValue { value })
    }
}
