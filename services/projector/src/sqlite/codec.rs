//! How values are stored in SQLite columns and read back: times as fixed
//! width RFC 3339 text (so text order is time order), JSON as text, enums
//! as their snake_case names.

use crate::error::StoreError;
use crate::store::{DeliveryKind, IssueState};
use chrono::{DateTime, SecondsFormat, Utc};
use closeloop_core::events::{AlertState, DeployStatus};
use closeloop_log::Offset;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub fn opt_time(t: &Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(time)
}

pub fn json<T: Serialize>(value: &T) -> String {
    // Label maps and event structs always serialize.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

/// Offsets are u64 in the log and i64 in SQL; no log reaches 2^63 records,
/// so saturating is only a guard against nonsense input.
pub fn offset(o: Offset) -> i64 {
    i64::try_from(o).unwrap_or(i64::MAX)
}

pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Reads columns of one row of `table`, naming the column in errors.
pub struct Cols<'r> {
    pub row: &'r SqliteRow,
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

    pub fn text(&self, column: &'static str) -> Result<String, StoreError> {
        Ok(self.row.try_get(column)?)
    }

    pub fn opt_text(&self, column: &'static str) -> Result<Option<String>, StoreError> {
        Ok(self.row.try_get(column)?)
    }

    pub fn int(&self, column: &'static str) -> Result<i64, StoreError> {
        Ok(self.row.try_get(column)?)
    }

    pub fn opt_int(&self, column: &'static str) -> Result<Option<i64>, StoreError> {
        Ok(self.row.try_get(column)?)
    }

    pub fn u32(&self, column: &'static str) -> Result<u32, StoreError> {
        let v = self.int(column)?;
        u32::try_from(v).map_err(|e| self.corrupt(column, e))
    }

    pub fn opt_u32(&self, column: &'static str) -> Result<Option<u32>, StoreError> {
        match self.opt_int(column)? {
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
            None => Ok(None),
        }
    }

    pub fn opt_u16(&self, column: &'static str) -> Result<Option<u16>, StoreError> {
        match self.opt_int(column)? {
            Some(v) => u16::try_from(v)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
            None => Ok(None),
        }
    }

    pub fn bool(&self, column: &'static str) -> Result<bool, StoreError> {
        Ok(self.int(column)? != 0)
    }

    pub fn opt_f64(&self, column: &'static str) -> Result<Option<f64>, StoreError> {
        Ok(self.row.try_get(column)?)
    }

    pub fn time(&self, column: &'static str) -> Result<DateTime<Utc>, StoreError> {
        let text = self.text(column)?;
        parse_time(&text).map_err(|e| self.corrupt(column, e))
    }

    pub fn opt_time(&self, column: &'static str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.opt_text(column)? {
            Some(text) => parse_time(&text)
                .map(Some)
                .map_err(|e| self.corrupt(column, e)),
            None => Ok(None),
        }
    }

    pub fn json<T: DeserializeOwned>(&self, column: &'static str) -> Result<T, StoreError> {
        let text = self.text(column)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(column, e))
    }

    pub fn uuid(&self, column: &'static str) -> Result<uuid::Uuid, StoreError> {
        let text = self.text(column)?;
        text.parse().map_err(|e| self.corrupt(column, e))
    }

    /// An enum stored as its snake_case serde name.
    pub fn name<T: DeserializeOwned>(&self, column: &'static str) -> Result<T, StoreError> {
        let text = self.text(column)?;
        serde_json::from_value(serde_json::Value::String(text)).map_err(|e| self.corrupt(column, e))
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

pub fn alert_state(s: AlertState) -> &'static str {
    crate::store::alert_state_name(s)
}

pub fn deploy_status(s: DeployStatus) -> &'static str {
    s.as_str()
}

pub fn issue_state(s: IssueState) -> &'static str {
    s.as_str()
}

pub fn delivery_kind(k: DeliveryKind) -> &'static str {
    k.as_str()
}
