//! How values are stored in PostgreSQL columns and read back: native
//! timestamptz, jsonb, double precision and boolean; uuids bound as text
//! and cast in SQL; enums as their snake_case names; text with NUL
//! characters made storable.

use crate::error::StoreError;
use closeloop_log::Offset;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::Row;
use std::borrow::Cow;

/// What PostgreSQL stores in place of a NUL character, which neither
/// `text` nor `jsonb` can hold. Rejecting the row instead would stall the
/// partition behind it forever.
pub const NUL_REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

pub fn text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', &NUL_REPLACEMENT.to_string()))
    } else {
        Cow::Borrowed(s)
    }
}

pub fn opt_text(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(text)
}

/// A value as jsonb, with NUL characters replaced in keys and strings.
pub fn json<T: Serialize>(value: &T) -> Json<Value> {
    // Label maps and event structs always serialize.
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    Json(storable(value))
}

fn storable(value: Value) -> Value {
    match value {
        Value::String(s) if s.contains('\0') => Value::String(text(&s).into_owned()),
        Value::Array(items) => Value::Array(items.into_iter().map(storable).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (text(&k).into_owned(), storable(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Offsets are u64 in the log and bigint in SQL; no log reaches 2^63
/// records, so saturating is only a guard against nonsense input.
pub fn offset(o: Offset) -> i64 {
    i64::try_from(o).unwrap_or(i64::MAX)
}

/// Reads columns of one row of `table`, naming the column in errors.
pub struct Cols<'r> {
    pub row: &'r PgRow,
    pub table: &'static str,
}

impl Cols<'_> {
    fn corrupt(&self, column: &'static str, reason: impl ToString) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            column,
            reason: reason.to_string(),
        }
    }

    pub fn get<T>(&self, column: &'static str) -> Result<T, StoreError>
    where
        T: for<'a> sqlx::Decode<'a, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        Ok(self.row.try_get(column)?)
    }

    pub fn u32(&self, column: &'static str) -> Result<u32, StoreError> {
        let v: i64 = self.get(column)?;
        u32::try_from(v).map_err(|e| self.corrupt(column, e))
    }

    pub fn opt_u32(&self, column: &'static str) -> Result<Option<u32>, StoreError> {
        match self.get::<Option<i64>>(column)? {
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
            None => Ok(None),
        }
    }

    pub fn opt_u16(&self, column: &'static str) -> Result<Option<u16>, StoreError> {
        match self.get::<Option<i32>>(column)? {
            Some(v) => u16::try_from(v)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
            None => Ok(None),
        }
    }

    pub fn offset(&self, column: &'static str) -> Result<Offset, StoreError> {
        let v: i64 = self.get(column)?;
        Offset::try_from(v).map_err(|e| self.corrupt(column, e))
    }

    /// The column's number if it is finite: NaN and the infinities are
    /// stored as they came but read back as no value, as SQLite (which
    /// stores NULL for them) does, so both backends answer alike.
    pub fn finite_f64(&self, column: &'static str) -> Result<Option<f64>, StoreError> {
        Ok(self.get::<Option<f64>>(column)?.filter(|v| v.is_finite()))
    }

    pub fn json<T: DeserializeOwned>(&self, column: &'static str) -> Result<T, StoreError> {
        let Json(value): Json<Value> = self.get(column)?;
        serde_json::from_value(value).map_err(|e| self.corrupt(column, e))
    }

    /// A uuid column selected as `column::text`.
    pub fn uuid(&self, column: &'static str) -> Result<uuid::Uuid, StoreError> {
        let text: String = self.get(column)?;
        text.parse().map_err(|e| self.corrupt(column, e))
    }

    /// An enum stored as its snake_case serde name.
    pub fn name<T: DeserializeOwned>(&self, column: &'static str) -> Result<T, StoreError> {
        let text: String = self.get(column)?;
        serde_json::from_value(Value::String(text)).map_err(|e| self.corrupt(column, e))
    }
}
